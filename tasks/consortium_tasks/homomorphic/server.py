"""The coordinator's side of a ``he-ckks`` job: key setup through participants, encrypted rounds.

The ServerApp runs in the coordinator and holds only the job's *public* context (loaded with
:func:`~consortium_core.homomorphic.ckks.load_public_context`, which refuses a secret key). Each
round it

1. samples participants (FedAvg's rule: ``fraction-train`` of those online, at least
   ``min-participants``) and asks each for its certificate and the keys it holds;
2. makes sure each holds the job's current key: before the first round, and again when a
   participant that held the key has left the job (``he-rekey-on-leave``), one participant
   deals a fresh key (re-encrypting the global model under it); a participant that lacks the
   current key (a newcomer, a restarted one) gets it sealed by one that holds it;
3. sends the encrypted global model (round 1: the public initial model, encrypted by the
   coordinator with the public key) for training, and forms
   ``sum_k (n_k / sum n) * E(model_k)`` from the encrypted replies, ``n_k`` being each
   participant's public example count;
4. asks the round's participants to decrypt the new global model and score it on the task's
   public held-out test set (the median of their answers is the round's accuracy and loss).

The global model stays encrypted in the coordinator, in its checkpoints too.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import tenseal as ts
from consortium_core.errors import ConsortiumError
from consortium_core.homomorphic import CiphertextError, HomomorphicSettings, KeyExchangeError
from consortium_core.homomorphic.ckks import (
    check_fits,
    encrypt_vector,
    flatten,
    key_id,
    load_public_context,
    weighted_sum,
)
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy.strategy_utils import sample_nodes

from .protocol import (
    EVALUATE_ACTION,
    KEYS_ACTION,
    KEYS_RECORD,
    MODEL_RECORD,
    STAGE_DEAL,
    STAGE_IDENTIFY,
    STAGE_INSTALL,
    UPDATE_RECORD,
    EncryptedModel,
)

__all__ = ["HomomorphicRoundError", "JobKeys", "run_encrypted_rounds"]

log = logging.getLogger(__name__)
QUERY_TIMEOUT_S = 300.0
TRAIN_TIMEOUT_S = 3600.0  # as Flower's Strategy.start

OnRound = Callable[[int, ArrayRecord, dict[str, float]], None]


class HomomorphicRoundError(ConsortiumError, RuntimeError):
    """A ``he-ckks`` round that cannot go on; the text says why and what to do."""


@dataclass
class JobKeys:
    """The coordinator's view of the job's key: public context, id, who was given it."""

    settings: HomomorphicSettings
    key_id: str = ""
    public: ts.Context | None = None
    holders: set[int] = field(default_factory=set)  # nodes dealt the current key
    dealt: int = 0  # fresh keys dealt so far
    failures: dict[int, str] = field(default_factory=dict)  # node -> why, this round

    def why(self) -> str:
        """The participants' reasons this round, for an error text."""
        if not self.failures:
            return "see the participants' logs"
        return "; ".join(f"node {n}: {why}" for n, why in sorted(self.failures.items()))

    def _query(self, grid: Grid, node_ids: Iterable[int], stage: str, **extra: object) -> dict:
        messages = [
            Message(
                RecordDict({KEYS_RECORD: ConfigRecord({"stage": stage, **extra})}),
                dst_node_id=node,
                message_type=f"{MessageType.QUERY}.{KEYS_ACTION}",
            )
            for node in node_ids
        ]
        answers: dict[int, ConfigRecord] = {}
        for reply in grid.send_and_receive(messages, timeout=QUERY_TIMEOUT_S):
            node = reply.metadata.src_node_id
            if reply.has_error():
                log.warning("he-keys %s: node %s answered %s", stage, node, reply.error.reason)
                self.failures[node] = reply.error.reason
            elif KEYS_RECORD in reply.content.config_records:
                answers[node] = reply.content.config_records[KEYS_RECORD]
        return answers

    def prepare(
        self, grid: Grid, sampled: list[int], online: list[int], model: EncryptedModel | None
    ) -> tuple[list[int], EncryptedModel | None]:
        """Make every sampled node hold the current key (dealing a fresh one when needed);
        return the nodes ready to train and the model (re-encrypted if the key changed)."""
        self.failures = {}
        known = self._query(grid, sampled, STAGE_IDENTIFY)
        holds = {n for n, a in known.items() if self.key_id and self.key_id in a.get("holds", [])}
        departed = self.holders - set(online)
        if self.public is None or (self.settings.rekey_on_leave and departed):
            if departed and self.public is not None:
                log.info(
                    "he-ckks: %d key holder(s) left the job: dealing a fresh key", len(departed)
                )
            model = self._deal_fresh(grid, known, holds, model)
        else:
            self.holders |= holds
            missing = sorted(set(known) - holds)
            if missing:
                self._share(grid, known, holds, missing)
        return sorted(n for n in known if n in self.holders), model

    def _deal_fresh(
        self,
        grid: Grid,
        known: Mapping[int, ConfigRecord],
        holds: set[int],
        model: EncryptedModel | None,
    ) -> EncryptedModel | None:
        candidates = sorted(holds) if model is not None else sorted(known)
        if not known:
            raise HomomorphicRoundError(
                f"no participant could take part in the key setup: {self.why()}"
            )
        if not candidates:
            raise HomomorphicRoundError(
                "no participant of this round holds the job's key, so none can re-encrypt the "
                "global model under a fresh one; bring back a participant that took part in "
                f"the last round ({self.why()})"
            )
        extra: dict[str, object] = {"fresh": True}
        if model is not None:
            extra |= {
                "model-key-id": model.key_id,
                "model-chunks": model.chunks,
                "model-size": model.size,
            }
        dealer, answer, recipients = self._deal(grid, known, candidates, extra)
        public_bytes = bytes(answer["public-context"])  # type: ignore[arg-type]
        public = load_public_context(public_bytes)  # refuses a context carrying a secret key
        new_key = str(answer["key-id"])
        if key_id(public_bytes) != new_key:
            raise KeyExchangeError("the dealer's key id does not match its public context")
        self.public, self.key_id, self.holders = public, new_key, {dealer}
        self.dealt += 1
        self._install(grid, answer, recipients)
        if model is None:
            return None
        chunks = list(answer["model-chunks"])  # type: ignore[arg-type]
        return EncryptedModel(new_key, chunks, model.size)

    def _share(
        self, grid: Grid, known: Mapping[int, ConfigRecord], holds: set[int], missing: list[int]
    ) -> None:
        holders = sorted(holds)
        if not holders:
            log.warning("he-ckks: no participant of this round holds the key to share it")
            return
        _, answer, recipients = self._deal(
            grid, {n: known[n] for n in [*holders, *missing]}, holders, {"key-id": self.key_id}
        )
        if str(answer["key-id"]) != self.key_id:
            raise KeyExchangeError("the dealer shared another key than the job's")
        self.holders |= set(holders)
        self._install(grid, answer, recipients)

    def _deal(
        self,
        grid: Grid,
        known: Mapping[int, ConfigRecord],
        candidates: list[int],
        extra: dict[str, object],
    ) -> tuple[int, ConfigRecord, list[int]]:
        for dealer in candidates:
            recipients = sorted(n for n in known if n != dealer)
            pems = [str(known[n]["certificate"]) for n in recipients]
            answers = self._query(grid, [dealer], STAGE_DEAL, recipients=pems, **extra)
            if dealer in answers:
                return dealer, answers[dealer], recipients
        raise HomomorphicRoundError(
            f"no participant could deal the job's key (tried nodes {candidates}): {self.why()}"
        )

    def _install(self, grid: Grid, answer: ConfigRecord, recipients: list[int]) -> None:
        sealed = list(answer["sealed"])  # type: ignore[arg-type]
        refused = list(answer["refused"])  # type: ignore[arg-type]
        for node, why in zip(recipients, refused, strict=True):
            if why:
                log.warning("he-ckks: the dealer refused node %s: %s", node, why)
                self.failures[node] = f"the dealer refused its certificate: {why}"
        targets = [n for n, why in zip(recipients, refused, strict=True) if not why]
        messages = {
            node: {
                "stage": STAGE_INSTALL,
                "key-id": str(answer["key-id"]),
                "sealed": sealed[recipients.index(node)],
                "dealer-certificate": str(answer["dealer-certificate"]),
                "signature": bytes(answer["signature"]),  # type: ignore[arg-type]
            }
            for node in targets
        }
        installed = set()
        replies = grid.send_and_receive(
            [
                Message(
                    RecordDict({KEYS_RECORD: ConfigRecord(extra)}),
                    dst_node_id=node,
                    message_type=f"{MessageType.QUERY}.{KEYS_ACTION}",
                )
                for node, extra in messages.items()
            ],
            timeout=QUERY_TIMEOUT_S,
        )
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                log.warning(
                    "he-ckks: node %s did not install the key: %s", node, reply.error.reason
                )
                self.failures[node] = reply.error.reason
            else:
                installed.add(node)
        self.holders |= installed


def run_encrypted_rounds(
    grid: Grid,
    *,
    keys: JobKeys,
    initial: ArrayRecord,
    num_rounds: int,
    min_participants: int,
    fraction_train: float,
    train_config: ConfigRecord,
    on_round: OnRound,
    round_offset: int = 0,
) -> EncryptedModel | None:
    """Run ``num_rounds`` encrypted FedAvg rounds; ``on_round(round, encrypted arrays,
    metrics)`` after each; ``keys`` (the job's public key, who holds it) is filled in as the
    rounds go. Returns the final encrypted global model.

    A job resumed after round ``round_offset`` (the coordinator restarted) passes that round's
    checkpoint, the encrypted global model, as ``initial``. The new coordinator knows neither
    the public key nor who holds it, so before the first round a participant that still holds
    the model's key (its client kept running) deals a fresh key and re-encrypts the model
    under it, as when a key holder leaves; rounds go on with the job's numbers."""
    model: EncryptedModel | None = None
    if round_offset:
        model = EncryptedModel.from_arrays(initial)
        keys.key_id = model.key_id  # the public context and the holders are found again
    else:
        initial_flat = flatten(a.numpy() for a in initial.values())
    for server_round in range(round_offset + 1, round_offset + num_rounds + 1):
        online = list(grid.get_node_ids())
        size = max(min_participants, int(len(online) * fraction_train))
        sampled, online = sample_nodes(grid, min_participants, size)
        ready, model = keys.prepare(grid, sorted(sampled), online, model)
        if model is None:  # the first key: the coordinator encrypts the public initial model
            assert keys.public is not None and not keys.public.is_private()
            check_fits(initial_flat, keys.settings)
            model = EncryptedModel(
                keys.key_id, encrypt_vector(keys.public, initial_flat), initial_flat.size
            )
        if len(ready) < min_participants:
            raise HomomorphicRoundError(
                f"round {server_round}: only {len(ready)} participant(s) hold the job's key, "
                f"the job needs {min_participants} ({keys.why()})"
            )
        config = ConfigRecord({**dict(train_config), "server-round": server_round})
        replies = grid.send_and_receive(
            [
                Message(
                    RecordDict({"config": config, MODEL_RECORD: model.to_record()}),
                    dst_node_id=node,
                    message_type=MessageType.TRAIN,
                )
                for node in ready
            ],
            timeout=TRAIN_TIMEOUT_S,
        )
        model, trained = _aggregate(keys, model, replies, min_participants, server_round)
        on_round(server_round, model.to_arrays(), _evaluate(grid, trained, model))
    return model


def _aggregate(
    keys: JobKeys,
    model: EncryptedModel,
    replies: Iterable[Message],
    min_participants: int,
    server_round: int,
) -> tuple[EncryptedModel, list[int]]:
    updates: dict[int, tuple[float, EncryptedModel]] = {}
    for reply in replies:
        node = reply.metadata.src_node_id
        if reply.has_error():
            continue
        try:
            update = EncryptedModel.from_record(reply.content.config_records.get(UPDATE_RECORD))
            if update.key_id != model.key_id or len(update.chunks) != len(model.chunks):
                raise CiphertextError("an update under another key or of another length")
            count = float(reply.content["metrics"]["num-examples"])  # type: ignore[index]
            if not count > 0:
                raise CiphertextError("num-examples must be > 0")
        except (CiphertextError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "he-ckks round %d: refused the update of node %s: %s", server_round, node, exc
            )
            continue
        updates[node] = (count, update)
    while len(updates) >= min_participants:
        total = sum(count for count, _ in updates.values())
        nodes = sorted(updates)
        try:
            chunks = weighted_sum(
                keys.public,
                [(updates[n][0] / total, updates[n][1].chunks) for n in nodes],
            )
        except CiphertextError as exc:  # "update <position>: ...": drop it, add the rest
            bad = nodes[int(str(exc).split(":")[0].removeprefix("update "))]
            log.warning("he-ckks round %d: dropped node %s: %s", server_round, bad, exc)
            del updates[bad]
            continue
        return EncryptedModel(model.key_id, chunks, model.size), nodes
    raise HomomorphicRoundError(
        f"round {server_round}: only {len(updates)} usable encrypted update(s), the job needs "
        f"{min_participants}"
    )


def _evaluate(grid: Grid, nodes: list[int], model: EncryptedModel) -> dict[str, float]:
    replies = grid.send_and_receive(
        [
            Message(
                RecordDict({MODEL_RECORD: model.to_record()}),
                dst_node_id=node,
                message_type=f"{MessageType.QUERY}.{EVALUATE_ACTION}",
            )
            for node in nodes
        ],
        timeout=QUERY_TIMEOUT_S,
    )
    scores: dict[str, list[float]] = {}
    for reply in replies:
        if reply.has_error() or "metrics" not in reply.content:
            continue
        for name, value in reply.content["metrics"].items():
            scores.setdefault(name, []).append(float(value))  # type: ignore[arg-type]
    if not scores:
        raise HomomorphicRoundError(
            "no participant could decrypt and score the new global model; see their logs"
        )
    return {name: statistics.median(values) for name, values in scores.items()}
