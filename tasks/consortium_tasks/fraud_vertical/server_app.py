"""ServerApp of task ``fraud-vertical``: the coordinator's side of a vertical job.

It holds no model and no data. It relays: first the private set intersection messages
(blinded points), so that every party ends with the same customers; then, batch by batch, the
feature parties' protected embeddings to the label holder and the label holder's protected
gradients back. After each epoch (a round) the label holder scores the vertical model on the
held-out rows; the AUC is the round's metric.

Order of a job (names in :mod:`.protocol`):

1. ``describe``: one label holder and at least one feature party, or the job fails.
2. PSI, label holder as client, once per feature party: the label holder narrows its aligned
   set to the customers every feature party holds.
3. PSI, each feature party as client, the label holder serving its aligned set: each feature
   party learns the same final set (a subset of its own) and nothing else.
4. ``prepare``: every party orders and splits the aligned rows; their counts must agree.
5. Per epoch, per batch: ``forward`` to feature parties (carrying the last batch's gradient),
   ``step`` to the label holder; at the epoch's end ``backward``, ``forward`` of the test rows
   and ``score``.
6. ``alone`` (the label holder's own-columns AUC, for comparison) and ``finish``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from consortium_core.rounds import notify_round_end
from consortium_core.vertical import VerticalSettings
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from ..errors import TaskError
from . import protocol

__all__ = ["app", "run_vertical_job"]

app = ServerApp()

PSI_TIMEOUT_S = 300.0
STEP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Parties:
    """The label holder's node and the feature parties' nodes, in a fixed order."""

    label_holder: int
    features: tuple[int, ...]
    names: Mapping[int, str]

    @property
    def everyone(self) -> tuple[int, ...]:
        return (self.label_holder, *self.features)


def _exchange(
    grid: Grid, stage: str, messages: Sequence[Message], names: Mapping[int, str], timeout: float
) -> dict[int, Message]:
    """Send ``messages`` and return the replies by node; any failure fails the job, saying who
    and at which stage."""
    replies = {
        reply.metadata.src_node_id: reply
        for reply in grid.send_and_receive(list(messages), timeout=timeout)
    }
    for message in messages:
        node = message.metadata.dst_node_id
        reply = replies.get(node)
        who = names.get(node, f"node {node}")
        if reply is None:
            raise TaskError(f"vertical job, {stage}: no reply from {who}")
        if reply.has_error():
            raise TaskError(f"vertical job, {stage}: {who} failed: {reply.error.reason}")
    return replies


def _message(node: int, message_type: str, **records: object) -> Message:
    return Message(RecordDict(dict(records)), dst_node_id=node, message_type=message_type)


def _rows_record(rows: np.ndarray) -> ArrayRecord:
    return protocol.arrays(rows=np.ascontiguousarray(rows, dtype=np.int64))


def _find_parties(grid: Grid) -> Parties:
    nodes = sorted(grid.get_node_ids())
    replies = _exchange(
        grid, "describe", [_message(n, protocol.DESCRIBE) for n in nodes], {}, STEP_TIMEOUT_S
    )
    infos = {node: replies[node].content["info"] for node in nodes}
    names = {node: str(info["party"]) for node, info in infos.items()}
    holders = [node for node, info in infos.items() if bool(info["label-holder"])]
    if len(holders) != 1:
        raise TaskError(
            f"a vertical job needs exactly one label holder, found {len(holders)} among "
            f"{', '.join(sorted(names.values()))}"
        )
    features = tuple(n for n in nodes if n != holders[0])
    if not features:
        raise TaskError("a vertical job needs at least one feature party besides the labels")
    return Parties(holders[0], features, names)


def _psi(grid: Grid, client: int, server: int, client_set: str, server_set: str, names) -> int:
    """One private set intersection; the client keeps the intersection. Returns its size."""
    stage = f"private set intersection ({names[client]} with {names[server]})"
    request = _exchange(
        grid,
        stage,
        [_message(client, protocol.PSI_REQUEST, psi=ConfigRecord({"set": client_set}))],
        names,
        PSI_TIMEOUT_S,
    )[client].content["psi"]
    answer = _exchange(
        grid,
        stage,
        [
            _message(
                server,
                protocol.PSI_SERVE,
                psi=ConfigRecord(
                    {"set": server_set, "request": request["request"], "size": request["size"]}
                ),
            )
        ],
        names,
        PSI_TIMEOUT_S,
    )[server].content["psi"]
    done = _exchange(
        grid,
        stage,
        [
            _message(
                client,
                protocol.PSI_FINISH,
                psi=ConfigRecord({"setup": answer["setup"], "response": answer["response"]}),
            )
        ],
        names,
        PSI_TIMEOUT_S,
    )[client].content["psi"]
    return int(done["size"])


def _align(grid: Grid, parties: Parties) -> dict[str, float]:
    """Steps 2-4: every party ends with the same ordered, split customers."""
    started = time.monotonic()
    names = parties.names
    for node in parties.features:
        _psi(grid, parties.label_holder, node, protocol.ALIGNED_SET, protocol.OWN_SET, names)
    sizes = {
        node: _psi(grid, node, parties.label_holder, protocol.OWN_SET, protocol.ALIGNED_SET, names)
        for node in parties.features
    }
    psi_s = time.monotonic() - started
    config = ConfigRecord({"feature-parties": len(parties.features)})
    replies = _exchange(
        grid,
        "prepare",
        [_message(n, protocol.PREPARE, config=config) for n in parties.everyone],
        names,
        STEP_TIMEOUT_S,
    )
    counts = {
        n: (int(r.content["info"]["train-rows"]), int(r.content["info"]["test-rows"]))
        for n, r in replies.items()
    }
    if len(set(counts.values())) != 1 or len(set(sizes.values())) > 1:
        raise TaskError(
            "the parties disagree on the aligned customers: "
            + ", ".join(f"{names[n]} {c[0]}+{c[1]}" for n, c in counts.items())
        )
    train_rows, test_rows = counts[parties.label_holder]
    if train_rows == 0 or test_rows == 0:
        raise TaskError(
            f"the parties share {train_rows + test_rows} customers: too few to train and test"
        )
    return {
        "intersection_size": float(train_rows + test_rows),
        "train_rows": float(train_rows),
        "test_rows": float(test_rows),
        "parties": float(len(parties.everyone)),
        "psi_s": psi_s,
    }


def _train_epoch(grid: Grid, parties: Parties, batches: list[np.ndarray]) -> float:
    """One epoch of split learning; returns the label holder's mean training loss."""
    gradients: dict[int, np.ndarray] = {}
    losses = []
    for rows in batches:
        forward = []
        for node in parties.features:
            records: dict[str, object] = {"rows": _rows_record(rows)}
            if node in gradients:
                records["gradient"] = protocol.arrays(gradient=gradients[node])
            forward.append(_message(node, protocol.FORWARD, **records))
        embedded = _exchange(grid, "forward", forward, parties.names, STEP_TIMEOUT_S)
        embeddings = {
            protocol.embedding_key(i): embedded[node].content["embedding"]
            for i, node in enumerate(parties.features)
        }
        stepped = _exchange(
            grid,
            "step",
            [_message(parties.label_holder, protocol.STEP, rows=_rows_record(rows), **embeddings)],
            parties.names,
            STEP_TIMEOUT_S,
        )[parties.label_holder]
        gradients = {
            node: stepped.content[protocol.gradient_key(i)]["gradient"].numpy()
            for i, node in enumerate(parties.features)
        }
        losses.append(float(stepped.content["metrics"]["train_loss"]))
    _exchange(
        grid,
        "backward",
        [
            _message(node, protocol.BACKWARD, gradient=protocol.arrays(gradient=gradients[node]))
            for node in parties.features
        ],
        parties.names,
        STEP_TIMEOUT_S,
    )
    return float(np.mean(losses))


def _score(grid: Grid, parties: Parties, test_rows: int) -> dict[str, float]:
    rows = _rows_record(np.arange(test_rows))
    embedded = _exchange(
        grid,
        "test forward",
        [_message(node, protocol.EVAL_FORWARD, rows=rows) for node in parties.features],
        parties.names,
        STEP_TIMEOUT_S,
    )
    records = {
        protocol.embedding_key(i): embedded[node].content["embedding"]
        for i, node in enumerate(parties.features)
    }
    scored = _exchange(
        grid,
        "score",
        [_message(parties.label_holder, protocol.SCORE, **records)],
        parties.names,
        STEP_TIMEOUT_S,
    )[parties.label_holder]
    metrics = {k: float(v) for k, v in scored.content["metrics"].items()}
    spent = [
        float(embedded[n].content["metrics"]["embedding_epsilon"])
        for n in parties.features
        if "embedding_epsilon" in embedded[n].content["metrics"]
    ]
    if spent:
        metrics["embedding_epsilon"] = max(spent)
    return metrics


def run_vertical_job(grid: Grid, settings: VerticalSettings) -> dict[str, float]:
    """Run a whole vertical job on ``grid``; return the last round's metrics."""
    parties = _find_parties(grid)
    try:
        aligned = _align(grid, parties)
        protection = {
            "embedding_noise": settings.embedding.noise_multiplier,
            "gradient_noise": settings.gradient.noise_multiplier,
            "delta": settings.delta,
        }
        notify_round_end(grid, 0, ArrayRecord(), {**aligned, **protection})
        order = np.random.default_rng(settings.seed)
        train_rows, test_rows = int(aligned["train_rows"]), int(aligned["test_rows"])
        metrics: dict[str, float] = {}
        for epoch in range(1, settings.epochs + 1):
            permutation = order.permutation(train_rows)
            batches = np.array_split(permutation, max(1, -(-train_rows // settings.batch_size)))
            train_loss = _train_epoch(grid, parties, batches)
            metrics = {**aligned, **protection, **_score(grid, parties, test_rows)}
            metrics["train_loss"] = train_loss
            if epoch == settings.epochs:
                alone = _exchange(
                    grid,
                    "label holder alone",
                    [_message(parties.label_holder, protocol.ALONE)],
                    parties.names,
                    STEP_TIMEOUT_S,
                )[parties.label_holder]
                metrics.update({k: float(v) for k, v in alone.content["metrics"].items()})
            notify_round_end(grid, epoch, ArrayRecord(), metrics)
        return metrics
    finally:
        grid.send_and_receive(
            [_message(n, protocol.FINISH) for n in parties.everyone], timeout=30.0
        )


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the vertical job the run config describes."""
    run_vertical_job(grid, VerticalSettings.from_run_config(context.run_config))
