"""``make bench BENCH=he``: what homomorphic-encryption aggregation (``he-ckks``) costs.

Two parts, each against plaintext FedAvg and SecAgg+ (Flower's protocol), on one thread:

* **cnn.** Task ``digits-cnn`` (the demo's CNN), ``PARTICIPANTS`` participants (Dirichlet 0.5,
  seed 42), ``ROUNDS`` rounds per mode, through the real ServerApp and ClientApp in one process
  (:func:`consortium_tasks.simulation.simulate`; every message through Flower's protobuf
  serde). ``round_s`` is the median of the rounds' wall times (``round_times[r] -
  round_times[r - 1]``, r = 1..N; participants run one after another in that process, in every
  mode). ``bytes_per_client`` is the protobuf size of every message a participant received
  (``down``) and sent (``up``) over the run, divided by participants and rounds: key setup,
  SecAgg+ stages and evaluation messages included. The membership audit after the last round is
  off in every mode (it is not part of a round). ``accuracy_difference_points`` is 100 x (the
  held-out accuracy after the last round with ``he-ckks`` minus without).
* **resnet18.** A ResNet-18-sized update (62 arrays, 11,689,512 float32 values, random with a
  fixed seed) from each of ``UPDATE_PARTICIPANTS`` participants, aggregated once, no training.
  Plain FedAvg (Consortium's strategy) and SecAgg+ (:mod:`consortium_core.secure_aggregation`,
  Flower's protocol, all four stages) run as one round of a small ServerApp/ClientApp pair over
  :class:`consortium_tasks.simulation.InProcessGrid`; each node's call (its messages' serde and
  its ClientApp) is timed, and ``round_s`` is the round's wall time with those calls overlapped
  per stage, as participants on their own machines would (``round_s_sequential``: as run).
  ``he-ckks`` runs the functions the job's participants and coordinator call
  (:mod:`consortium_core.homomorphic.ckks`), streamed ``BLOCK_CIPHERTEXTS`` ciphertexts at a
  time to bound memory: each participant encrypts its update, the ciphertexts go through
  Flower's protobuf serde in the job's record (``EncryptedModel``, one message per block),
  the coordinator forms the weighted sum under the public context only, the aggregate goes
  back through the serde and a participant decrypts it; ``round_s`` = the slowest
  participant's encryption and upload serde + the sum + one download serde and decryption
  (participants work in parallel). Its bytes are those messages' protobuf sizes (up: its
  update; down: the encrypted aggregate). ``max_abs_error`` is each mode's aggregate against
  the float64 weighted mean.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import statistics
import tempfile
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import flwr
import numpy as np
import tenseal as ts
import torch
from consortium_core.homomorphic.ckks import (
    decrypt_vector,
    encrypt_vector,
    load_public_context,
    new_secret_context,
    public_context_bytes,
    weighted_sum,
)
from consortium_core.homomorphic.settings import HomomorphicSettings
from consortium_core.rounds import notify_round_end
from consortium_core.secure_aggregation import SecureAggregationSettings
from consortium_core.secure_aggregation.client import is_secure_aggregation_message, secure_train
from consortium_core.secure_aggregation.server import run_secure_rounds
from consortium_core.strategies import build_strategy
from consortium_tasks.homomorphic.identities import make_identities
from consortium_tasks.homomorphic.protocol import MODEL_RECORD, UPDATE_RECORD, EncryptedModel
from consortium_tasks.simulation import (
    FIRST_NODE_ID,
    InProcessGrid,
    MessageBytes,
    act_as_server,
    simulate,
)
from flwr.app import Array, ArrayRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.common.logger import FLOWER_LOGGER
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.serverapp import Grid, ServerApp

from consortium_bench.apps.transfer import resnet18_shapes

__all__ = [
    "BLOCK_CIPHERTEXTS",
    "MODES",
    "PARTICIPANTS",
    "REPEATS",
    "ROUNDS",
    "UPDATE_PARTICIPANTS",
    "UPDATE_REPEATS",
    "bytes_per_client",
    "median_round_seconds",
    "overlapped_seconds",
    "ratio",
    "run",
    "table",
]

ROUNDS = 10
REPEATS = 5
PARTICIPANTS = 5
UPDATE_PARTICIPANTS = 5
UPDATE_REPEATS = 3
BLOCK_CIPHERTEXTS = 128
TASK = "digits-cnn"
SEED = 42
PARTITIONER = "dirichlet(0.5)"
MODES: Mapping[str, Mapping[str, Any]] = {
    "plain": {},
    "secagg+": {"secure-aggregation": True},
    "he-ckks": {"aggregation": "he-ckks"},
}
_GB = 1024**3


# --------------------------------------------------------------------------------------------
# Arithmetic of the report
# --------------------------------------------------------------------------------------------


def median_round_seconds(*, round_times: Mapping[int, float]) -> float:
    """The median wall time of rounds 1..N from the clock reading at each round's end (0 first).

    >>> median_round_seconds(round_times={0: 10.0, 1: 11.0, 2: 13.0, 3: 14.5})
    1.5
    """
    ends = [round_times[r] for r in sorted(round_times)]
    return float(statistics.median(b - a for a, b in pairwise(ends)))


def bytes_per_client(
    *, message_bytes: Iterable[MessageBytes], participants: int, rounds: int
) -> dict[str, float]:
    """Bytes a participant received (``down``) and sent (``up``) per round, on average.

    >>> m = [MessageBytes("train", 100, 1, down=10, up=30), MessageBytes("train", 101, 1, 10, 50)]
    >>> bytes_per_client(message_bytes=m, participants=2, rounds=1)
    {'up': 40.0, 'down': 10.0, 'total': 50.0}
    """
    up = down = 0
    for message in message_bytes:
        up += message.up
        down += message.down
    share = participants * rounds
    return {"up": up / share, "down": down / share, "total": (up + down) / share}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or ``inf`` when the denominator is not positive.

    >>> ratio(3.0, 1.5), ratio(1.0, 0.0)
    (2.0, inf)
    """
    return numerator / denominator if denominator > 0 else float("inf")


def overlapped_seconds(*, wall: float, stages: Iterable[Sequence[float]]) -> float:
    """A round's wall time had each stage's node calls (run one after another) overlapped:
    ``wall - sum(stage) + max(stage)`` for every stage.

    >>> overlapped_seconds(wall=10.0, stages=[[2.0, 3.0], [1.0, 1.0, 1.0]])
    6.0
    """
    return wall - sum(sum(s) - max(s) for s in stages if s)


def _by_message_type(
    message_bytes: Iterable[MessageBytes], participants: int, rounds: int
) -> dict[str, dict[str, float]]:
    kinds: dict[str, list[MessageBytes]] = defaultdict(list)
    for message in message_bytes:
        kinds[message.message_type].append(message)
    share = participants * rounds
    return {
        kind: {
            "messages": len(messages) / share,
            "up": sum(m.up for m in messages) / share,
            "down": sum(m.down for m in messages) / share,
        }
        for kind, messages in sorted(kinds.items())
    }


def _setup_split(
    message_bytes: Sequence[MessageBytes], participants: int, rounds: int
) -> dict[str, Any]:
    """The messages before the first training message (``he-ckks``'s first key setup) once per
    participant, and the rest per participant and round."""
    first_train = next(
        (i for i, m in enumerate(message_bytes) if m.message_type == MessageType.TRAIN),
        len(message_bytes),
    )
    setup = bytes_per_client(
        message_bytes=message_bytes[:first_train], participants=participants, rounds=1
    )
    return {
        "setup_bytes_per_client": setup,
        "bytes_per_client_after_setup": bytes_per_client(
            message_bytes=message_bytes[first_train:], participants=participants, rounds=rounds
        ),
    }


def _comparison(values: Mapping[str, float]) -> dict[str, float]:
    return {
        **values,
        "he_over_plain_x": ratio(values["he-ckks"], values["plain"]),
        "he_over_secagg_x": ratio(values["he-ckks"], values["secagg+"]),
    }


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / _GB  # KiB on Linux


def _log(text: str) -> None:
    print(f"[he {time.strftime('%H:%M:%S')}] {text}", flush=True)


# --------------------------------------------------------------------------------------------
# Part 1: the demo's CNN, the real apps, every mode
# --------------------------------------------------------------------------------------------


def _cnn(*, rounds: int, participants: int, repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for repeat in range(repeats):
        for mode in MODES:
            runs[mode].append(_cnn_run(mode, rounds=rounds, participants=participants))
            last = runs[mode][-1]
            _log(
                f"cnn {repeat + 1}/{repeats} {mode}: {statistics.median(last['round_s_each']):.3f}"
                f" s/round, accuracy {last['accuracy']:.4f}"
            )
    modes = {mode: _cnn_summary(MODES[mode], runs[mode]) for mode in MODES}
    round_s = {mode: m["round_s"] for mode, m in modes.items()}
    comparison = _comparison(round_s)
    plain, he = runs["plain"], runs["he-ckks"]
    return {
        "task": TASK,
        "participants": participants,
        "rounds": rounds,
        "repeats": repeats,
        "seed": SEED,
        "partitioner": PARTITIONER,
        "model_values": _digits_model_values(),
        "modes": modes,
        "round_s": round_s,
        "he_over_plain_x": comparison["he_over_plain_x"],
        "he_over_secagg_x": comparison["he_over_secagg_x"],
        "bytes_per_client": _comparison(
            {mode: m["bytes_per_client"]["total"] for mode, m in modes.items()}
        ),
        "accuracy_difference_points": 100
        * (modes["he-ckks"]["accuracy"] - modes["plain"]["accuracy"]),
        "accuracy_difference_points_each": [
            100 * (h["accuracy"] - p["accuracy"]) for h, p in zip(he, plain, strict=True)
        ],
        "secagg_accuracy_difference_points": 100
        * (modes["secagg+"]["accuracy"] - modes["plain"]["accuracy"]),
        "loss_difference": modes["he-ckks"]["loss"] - modes["plain"]["loss"],
        "max_accuracy_difference_points_any_round": 100
        * max(
            abs(a - b)
            for h, p in zip(he, plain, strict=True)
            for a, b in zip(h["accuracy_per_round"], p["accuracy_per_round"], strict=True)
        ),
        "method": f"{repeats} simulate() runs per mode, modes interleaved, same seed (the "
        "task's real ServerApp and ClientApp, participants one after another in one process, "
        "held-out evaluation included); round_s: median wall time over rounds 1..N of every "
        "run; accuracy: mean over runs of the held-out accuracy after round N; bytes: protobuf "
        "size of every message down and reply up over a run (one-off key setup included) / "
        "participants / rounds, mean over runs",
    }


def _accuracies_per_run(cnn: Mapping[str, Any]) -> str:
    return "; ".join(
        f"{mode} " + ", ".join(f"{r['accuracy']:.4f}" for r in m["runs"])
        for mode, m in cnn["modes"].items()
    )


def _cnn_run(mode: str, *, rounds: int, participants: int) -> dict[str, Any]:
    run_config = {"num-server-rounds": rounds, "membership-audit": False, **MODES[mode]}
    with tempfile.TemporaryDirectory(prefix="consortium-he-bench-") as folder:
        identities = None
        if mode == "he-ckks":
            identities = make_identities(folder, [f"p{i}" for i in range(participants)])
        started = time.perf_counter()
        grid = simulate(
            TASK,
            num_partitions=participants,
            partitioner_spec=PARTITIONER,
            seed=SEED,
            run_config=run_config,
            per_node_options=identities,
        )
        run_s = time.perf_counter() - started
    return {
        "round_s_each": [
            b - a for a, b in pairwise(grid.round_times[r] for r in range(rounds + 1))
        ],
        "bytes_per_client": bytes_per_client(
            message_bytes=grid.message_bytes, participants=participants, rounds=rounds
        ),
        "bytes_by_message_type": _by_message_type(grid.message_bytes, participants, rounds),
        **_setup_split(grid.message_bytes, participants, rounds),
        "accuracy": float(grid.round_metrics[rounds]["accuracy"]),
        "loss": float(grid.round_metrics[rounds]["loss"]),
        "accuracy_per_round": [float(grid.round_metrics[r]["accuracy"]) for r in range(rounds + 1)],
        "run_s": run_s,
    }


def _cnn_summary(options: Mapping[str, Any], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One mode's runs: pooled median round time, mean accuracy and bytes, every run's own."""

    def mean_sizes(key: str) -> dict[str, float]:
        return {k: float(np.mean([r[key][k] for r in runs])) for k in ("up", "down", "total")}

    return {
        "run_config": dict(options),
        "round_s": float(statistics.median(s for r in runs for s in r["round_s_each"])),
        "bytes_per_client": mean_sizes("bytes_per_client"),
        "setup_bytes_per_client": mean_sizes("setup_bytes_per_client"),
        "bytes_per_client_after_setup": mean_sizes("bytes_per_client_after_setup"),
        "bytes_by_message_type": runs[0]["bytes_by_message_type"],
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "loss": float(np.mean([r["loss"] for r in runs])),
        "runs": runs,
    }


def _digits_model_values() -> int:
    from consortium_tasks.digits_cnn.task import build_model

    return int(sum(p.numel() for p in build_model().state_dict().values()))


# --------------------------------------------------------------------------------------------
# Part 2: one aggregation of a ResNet-18-sized update
# --------------------------------------------------------------------------------------------


class _TimedGrid(InProcessGrid):
    """:class:`InProcessGrid` that delivers one message at a time and times each delivery
    (the message's serde both ways and the node's ClientApp), per ``push_messages`` call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages: list[tuple[float, list[float]]] = []  # (monotonic start, per-node seconds)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        started = time.monotonic()
        ids: list[str] = []
        seconds: list[float] = []
        for message in sorted(messages, key=lambda m: m.metadata.dst_node_id):
            t0 = time.perf_counter()
            ids.extend(super().push_messages([message]))
            seconds.append(time.perf_counter() - t0)
        self.stages.append((started, seconds))
        return ids


def _update_apps(
    shapes: Sequence[tuple[str, tuple[int, ...]]],
    updates: Sequence[Sequence[np.ndarray]],
    counts: Sequence[int],
    aggregate: list[ArrayRecord],
) -> tuple[ServerApp, ClientApp]:
    """One round of FedAvg (SecAgg+ when the run config says so) over fixed updates; the
    aggregate is appended to ``aggregate``."""
    client = ClientApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])

        def fit(
            arrays: Any, config: Any, ctx: Context
        ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
            return list(updates[partition]), counts[partition], {}

        if is_secure_aggregation_message(msg):
            return secure_train(msg, context, fit)
        record = ArrayRecord(
            OrderedDict(
                (name, Array(a)) for (name, _), a in zip(shapes, updates[partition], strict=True)
            )
        )
        metrics = MetricRecord({"num-examples": counts[partition]})
        return Message(RecordDict({"arrays": record, "metrics": metrics}), reply_to=msg)

    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        participants = int(context.run_config["min-participants"])
        initial = ArrayRecord(
            OrderedDict((name, Array(np.zeros(shape, dtype=np.float32))) for name, shape in shapes)
        )

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            notify_round_end(grid, server_round, arrays, {})
            if server_round == 1:
                aggregate.append(arrays)
            return MetricRecord({})

        secure = SecureAggregationSettings.from_run_config(context.run_config)
        if secure is not None:
            run_secure_rounds(
                grid,
                context,
                settings=secure,
                initial_arrays=initial,
                num_rounds=1,
                min_participants=participants,
                fraction_train=1.0,
                train_config={},
                evaluate_fn=evaluate_fn,
            )
            return
        strategy = build_strategy(
            "FedAvg", min_participants=participants, fraction_train=1.0, fraction_evaluate=0.0
        )
        strategy.start(grid, initial, num_rounds=1, evaluate_fn=evaluate_fn)

    return server, client


def _flower_update_round(
    mode: str,
    shapes: Sequence[tuple[str, tuple[int, ...]]],
    updates: Sequence[Sequence[np.ndarray]],
    counts: Sequence[int],
    exact: np.ndarray,
) -> dict[str, Any]:
    aggregate: list[ArrayRecord] = []
    server, client = _update_apps(shapes, updates, counts, aggregate)
    participants = len(updates)
    run_config = {"num-server-rounds": 1, "min-participants": participants, **MODES[mode]}
    grid = _TimedGrid(
        client, [{"partition-id": p} for p in range(participants)], run_config, run_id=7
    )
    act_as_server(run_id=grid.run.run_id)
    server(
        grid,
        Context(
            run_id=grid.run.run_id,
            node_id=SUPERLINK_NODE_ID,
            node_config={},
            state=RecordDict(),
            run_config=run_config,
        ),
    )
    begin, end = grid.round_times[0], grid.round_times[1]
    stages = [seconds for started, seconds in grid.stages if begin <= started <= end and seconds]
    result = np.concatenate([a.numpy().ravel() for a in aggregate[0].values()])
    return {
        "round_s": overlapped_seconds(wall=end - begin, stages=stages),
        "round_s_sequential": end - begin,
        "stages": len(stages),
        "slowest_node_call_s_per_stage": [max(s) for s in stages],
        "bytes_per_client": bytes_per_client(
            message_bytes=grid.message_bytes, participants=participants, rounds=1
        ),
        "bytes_by_message_type": _by_message_type(grid.message_bytes, participants, 1),
        "max_abs_error": float(np.abs(result.astype(np.float64) - exact).max()),
    }


def _he_update_round(
    flats: Sequence[np.ndarray], weights: Sequence[float], exact: np.ndarray, block: int
) -> dict[str, Any]:
    settings = HomomorphicSettings()
    act_as_server(run_id=8)
    t0 = time.perf_counter()
    secret = new_secret_context(settings)
    keygen_s = time.perf_counter() - t0
    public_bytes = public_context_bytes(secret)
    public = load_public_context(public_bytes)
    size = int(flats[0].size)
    step = block * settings.slots
    encrypt_s = np.zeros(len(flats))
    up_wire_s = np.zeros(len(flats))
    up_bytes = np.zeros(len(flats), dtype=np.int64)
    up_ciphertext_bytes = np.zeros(len(flats), dtype=np.int64)
    aggregate_s = decrypt_s = down_wire_s = 0.0
    down_bytes = down_ciphertext_bytes = ciphertexts = 0
    max_error = 0.0
    for start in range(0, size, step):
        stop = min(size, start + step)
        chunks = []
        for k, flat in enumerate(flats):
            t0 = time.perf_counter()
            encrypted = encrypt_vector(secret, flat[start:stop])
            encrypt_s[k] += time.perf_counter() - t0
            seconds, nbytes, received = _through_the_wire(UPDATE_RECORD, encrypted, stop - start)
            up_wire_s[k] += seconds
            up_bytes[k] += nbytes
            up_ciphertext_bytes[k] += sum(len(c) for c in encrypted)
            chunks.append(received)
        t0 = time.perf_counter()
        total = weighted_sum(public, list(zip(weights, chunks, strict=True)))
        aggregate_s += time.perf_counter() - t0
        del chunks
        seconds, nbytes, received = _through_the_wire(MODEL_RECORD, total, stop - start)
        down_wire_s += seconds
        down_bytes += nbytes
        t0 = time.perf_counter()
        values = decrypt_vector(secret, received, stop - start)
        decrypt_s += time.perf_counter() - t0
        down_ciphertext_bytes += sum(len(c) for c in total)
        ciphertexts += len(total)
        max_error = max(max_error, float(np.abs(values - exact[start:stop]).max()))
    up = float(up_bytes.mean())
    slowest = int(np.argmax(encrypt_s + up_wire_s))
    return {
        "round_s": float(encrypt_s[slowest] + up_wire_s[slowest])
        + aggregate_s
        + down_wire_s
        + decrypt_s,
        "round_s_sequential": float(encrypt_s.sum() + up_wire_s.sum())
        + aggregate_s
        + len(flats) * (down_wire_s + decrypt_s),
        "encrypt_s_per_client": float(encrypt_s.mean()),
        "encrypt_s_slowest_client": float(encrypt_s.max()),
        "aggregate_s": aggregate_s,
        "decrypt_s_per_client": decrypt_s,
        "serde_s_up_per_client": float(up_wire_s.mean()),
        "serde_s_down_per_client": down_wire_s,
        "keygen_s": keygen_s,
        "public_context_bytes": len(public_bytes),
        "ciphertexts_per_client": ciphertexts,
        "bytes_per_ciphertext_up": float(up_ciphertext_bytes.mean()) / ciphertexts,
        "bytes_per_ciphertext_down": down_ciphertext_bytes / ciphertexts,
        "bytes_per_client": {"up": up, "down": float(down_bytes), "total": up + down_bytes},
        "messages_per_client_per_direction": -(-size // step),
        "coordinator_receives_bytes": int(up_bytes.sum()),
        "max_abs_error": max_error,
        "block_ciphertexts": block,
    }


def _through_the_wire(
    record_name: str, chunks: list[bytes], size: int
) -> tuple[float, int, list[bytes]]:
    """Ciphertexts through Flower's protobuf serde as the job's record carries them, as
    :class:`InProcessGrid` does: (seconds, protobuf bytes, the chunks received)."""
    t0 = time.perf_counter()
    model = EncryptedModel(key_id="bench", chunks=chunks, size=size)
    message = Message(
        RecordDict({record_name: model.to_record()}),
        dst_node_id=FIRST_NODE_ID,
        message_type=MessageType.TRAIN,
    )
    proto = message_to_proto(message)
    nbytes = proto.ByteSize()
    received = message_from_proto(proto).content.config_records[record_name]
    chunks_received = EncryptedModel.from_record(received).chunks
    return time.perf_counter() - t0, nbytes, chunks_received


def _resnet18(*, participants: int, scale: float, block: int, repeats: int) -> dict[str, Any]:
    shapes = resnet18_shapes(scale)
    sizes = [int(np.prod(shape)) for _, shape in shapes]
    rng = np.random.default_rng(SEED)
    flats = [rng.normal(0.0, 0.05, size=sum(sizes)).astype(np.float32) for _ in range(participants)]
    cuts = np.cumsum(sizes)[:-1]
    updates = [
        [part.reshape(shape) for part, (_, shape) in zip(np.split(f, cuts), shapes, strict=True)]
        for f in flats
    ]
    counts = [100 + 20 * k for k in range(participants)]
    weights = [c / sum(counts) for c in counts]
    exact = np.zeros(sum(sizes))
    for w, flat in zip(weights, flats, strict=True):
        exact += w * flat.astype(np.float64)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    peak_rss = {"before": _peak_rss_gb()}
    for repeat in range(repeats):  # modes interleaved, so that load on the machine hits all
        runs["he-ckks"].append(_he_update_round(flats, weights, exact, block))
        if repeat == 0:  # before any plain or SecAgg+ round: the increase is he-ckks's
            peak_rss["after_first_he_round"] = _peak_rss_gb()
        for mode in ("plain", "secagg+"):
            runs[mode].append(_flower_update_round(mode, shapes, updates, counts, exact))
        _log(
            f"resnet18 repeat {repeat + 1}/{repeats}: "
            + ", ".join(f"{m} {r[-1]['round_s']:.2f} s" for m, r in runs.items())
        )
    modes = {mode: _median_run(runs[mode]) for mode in MODES}
    modes["plain"]["method"] = (
        "one round of Consortium's FedAvg strategy over InProcessGrid (Flower protobuf serde "
        "both ways), participants replying with fixed updates; round_s: the round's wall "
        "time with each stage's node calls overlapped (the slowest counts)"
    )
    modes["secagg+"]["method"] = (
        "one round of Flower's SecAgg+ protocol (all four stages, every participant a share "
        "holder) over InProcessGrid, participants masking fixed updates with secaggplus_mod; "
        "round_s as for plain; error: quantization"
    )
    modes["he-ckks"]["method"] = (
        "consortium_core.homomorphic.ckks in one process, streamed block_ciphertexts at a "
        "time: every participant encrypts its update (secret context), the ciphertexts go "
        "through Flower's protobuf serde in the job's EncryptedModel record, the coordinator "
        "weighted_sum()s them (public context only), the aggregate goes back through the "
        "serde and one participant decrypts; round_s = slowest participant's encryption and "
        "upload serde + the sum + one download serde and decryption (participants work in "
        "parallel); no training, no key setup"
    )
    round_s = {mode: modes[mode]["round_s"] for mode in MODES}
    comparison = _comparison(round_s)
    return {
        "values": int(sum(sizes)),
        "arrays": len(shapes),
        "participants": participants,
        "example_counts": counts,
        "modes": {mode: modes[mode] for mode in MODES},
        "round_s": round_s,
        "he_over_plain_x": comparison["he_over_plain_x"],
        "he_over_secagg_x": comparison["he_over_secagg_x"],
        "bytes_per_client": _comparison(
            {mode: modes[mode]["bytes_per_client"]["total"] for mode in MODES}
        ),
        "ciphertexts_per_client": modes["he-ckks"]["ciphertexts_per_client"],
        "repeats": repeats,
        "peak_rss_gb": {**peak_rss, "after_all": _peak_rss_gb()},
    }


def _median_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median ``round_s`` (the lower middle one of an even number), with
    every run's ``round_s`` added."""
    chosen = sorted(runs, key=lambda r: r["round_s"])[(len(runs) - 1) // 2]
    return {**chosen, "round_s_repeats": [r["round_s"] for r in runs]}


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def run(
    out_dir: Path,
    *,
    rounds: int = ROUNDS,
    participants: int = PARTICIPANTS,
    repeats: int = REPEATS,
    update_participants: int = UPDATE_PARTICIPANTS,
    update_scale: float = 1.0,
    update_repeats: int = UPDATE_REPEATS,
    block_ciphertexts: int = BLOCK_CIPHERTEXTS,
) -> dict[str, Any]:
    """Run both parts: ``repeats`` runs of ``rounds`` rounds per mode on the CNN;
    ``update_repeats`` aggregations per mode of the ResNet-18-sized update, whose channels
    ``update_scale`` scales (tests: 0.01)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)
    settings = HomomorphicSettings()
    load_before = list(os.getloadavg())
    resnet = _resnet18(  # first, so that its first he-ckks round sets the peak RSS
        participants=update_participants,
        scale=update_scale,
        block=block_ciphertexts,
        repeats=update_repeats,
    )
    cnn = _cnn(rounds=rounds, participants=participants, repeats=repeats)
    he_cnn = cast(dict[str, Any], cnn["modes"]["he-ckks"])
    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "tenseal_threads": 1,
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "tenseal_version": ts.__version__,
        "flwr_version": flwr.__version__,
        "settings": {
            "poly_modulus_degree": settings.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(settings.coeff_mod_bit_sizes),
            "scale_bits": settings.scale_bits,
            "slots_per_ciphertext": settings.slots,
        },
        "cnn": cnn,
        "resnet18": resnet,
        "notes": [
            "one thread everywhere (torch, TenSEAL n_threads=1); the machine is shared, see "
            "load_average_*; modes interleaved; resnet18: the median of "
            f"{resnet['repeats']} runs per mode",
            "cnn: participants train one after another in one process, so round_s adds up "
            "their work in every mode; on separate machines they would overlap",
            "cnn: he-ckks deals its key before round 1 (round 1 took "
            f"{he_cnn['runs'][0]['round_s_each'][0]:.2f} s against a median of "
            f"{he_cnn['round_s']:.2f} s; "
            "its setup bytes are in bytes_per_client, amortized over the rounds, and on their "
            "own in setup_bytes_per_client); its message types: "
            f"{', '.join(he_cnn['bytes_by_message_type'])}",
            "cnn: plain FedAvg also sends the model for federated evaluation each round, "
            "he-ckks sends the encrypted model for participants to score on the public "
            "held-out set, SecAgg+ sends none (the coordinator scores the revealed aggregate); "
            "all counted",
            "resnet18: in-process, no network: bytes are sizes, not transfer times; serde is "
            "Flower's message_to_proto/message_from_proto as InProcessGrid does, without "
            "writing bytes to a socket",
            "resnet18: he-ckks is streamed in blocks of "
            f"{resnet['modes']['he-ckks']['block_ciphertexts']} ciphertexts to bound this "
            "bench's memory; the job's coordinator receives whole updates, "
            f"{resnet['modes']['he-ckks']['coordinator_receives_bytes'] / 1e9:.2f} GB from "
            f"{resnet['participants']} participants in one round",
            "resnet18: peak_rss_gb is the process's peak resident memory (it never goes "
            "down): before the part (update arrays made), after its first he-ckks round, and "
            "at its end",
            "resnet18: SecAgg+ uploads int64 masked values (2x the float32 update); its error "
            "is quantization (clipping range 8, 2**22 levels)",
            "CKKS is approximate (max_abs_error, against the float64 weighted mean) and "
            "its noise is fresh in every run; final held-out accuracy per run (one seed and "
            f"partition): {_accuracies_per_run(cnn)}",
        ],
    }


def table(report: Mapping[str, Any]) -> str:
    """The report as text: one line per mode and part, then the ratios."""
    lines = []
    for part in ("cnn", "resnet18"):
        data = report[part]
        head = (
            f"{data['task']} ({data['model_values']:,} values), {data['participants']} "
            f"participants, {data['rounds']} rounds, {data['repeats']} runs per mode"
            if part == "cnn"
            else f"resnet18-sized update ({data['values']:,} values), {data['participants']} "
            f"participants, one aggregation, median of {data['repeats']}"
        )
        lines += [
            head,
            f"  {'mode':<8} {'round s':>9} {'up MB':>10} {'down MB':>10} {'extra':>22}",
        ]
        for mode, m in data["modes"].items():
            sizes = m["bytes_per_client"]
            extra = (
                f"acc {m['accuracy']:.4f}" if part == "cnn" else f"max err {m['max_abs_error']:.2e}"
            )
            lines.append(
                f"  {mode:<8} {m['round_s']:>9.3f} {sizes['up'] / 1e6:>10.3f} "
                f"{sizes['down'] / 1e6:>10.3f} {extra:>22}"
            )
        sizes = data["bytes_per_client"]
        lines.append(
            f"  he/plain time {data['he_over_plain_x']:.1f}x, he/secagg+ time "
            f"{data['he_over_secagg_x']:.1f}x; bytes per client he/plain "
            f"{sizes['he_over_plain_x']:.1f}x, he/secagg+ {sizes['he_over_secagg_x']:.1f}x"
        )
        if part == "cnn":
            lines.append(f"  accuracy he - plain: {data['accuracy_difference_points']:+.2f} points")
        else:
            he = data["modes"]["he-ckks"]
            lines.append(
                f"  he: {data['ciphertexts_per_client']:,} ciphertexts per client, encrypt "
                f"{he['encrypt_s_per_client']:.2f} s, sum {he['aggregate_s']:.2f} s, decrypt "
                f"{he['decrypt_s_per_client']:.2f} s; peak RSS "
                f"{data['peak_rss_gb']['before']:.2f} -> "
                f"{data['peak_rss_gb']['after_first_he_round']:.2f} GB"
            )
    return "\n".join(lines)
