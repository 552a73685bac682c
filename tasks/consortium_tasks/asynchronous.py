"""The asynchronous server loop (FedAsync, FedBuff) that the built-in ServerApp runs instead of
``Strategy.start`` when a job's ``strategy`` is one of :data:`ASYNC_STRATEGIES`.

It uses only Flower's ``Grid`` interface, so it runs unchanged on Consortium's NATS runtime and
on the in-process simulator: it keeps ``async.concurrency`` participants training at once, each
on the global model it was sent (a train message carries the model and a config with
``model-version``), polls ``grid.pull_messages`` for whatever replies came, and applies each one
(FedAsync) or each full buffer of ``async.buffer-size`` (FedBuff) with the maths of
:mod:`consortium_core.asynchronous`. The participant that answered is sent the newest model at
once. An error reply, or no reply within ``async.timeout-s``, counts as a failure and the model
goes to another idle participant. Every application of updates is one round for the runtime:
the loop calls ``evaluate_fn(round, arrays)``, which scores the model and tells the runtime
(checkpoint, ``round_completed``); it stops after ``num-server-rounds`` of them, or when
``evaluate_fn`` raises :class:`~consortium_core.rounds.StopTraining`. Train messages still in
flight at the end are abandoned: their late replies are never pulled.

:func:`straggle` is the ClientApp's test knob: node config ``straggler-delay-s`` makes every
training of that participant take that many seconds longer (benchmarks and tests only).
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from consortium_core.asynchronous import (
    AsyncSettings,
    BufferedUpdate,
    delta_between,
    fedasync_mix,
    fedbuff_apply,
)
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid

from .errors import TaskError

__all__ = [
    "STRAGGLER_DELAY_KEY",
    "AppliedUpdate",
    "AsyncRunSummary",
    "AsyncTrainingError",
    "run_async_rounds",
    "straggle",
]

log = logging.getLogger(__name__)

STRAGGLER_DELAY_KEY = "straggler-delay-s"
MODEL_VERSION_KEY = "model-version"
POLL_S = 0.02
FAILED_NODE_REST_S = 1.0


class AsyncTrainingError(TaskError, RuntimeError):
    """Asynchronous training cannot go on: no participant has been available, or every one kept
    failing, for longer than the job allows."""


def straggle(
    node_config: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Sleep ``straggler-delay-s`` seconds (node config; 0 when absent): a test knob that makes
    a participant slow, for simulations and benchmarks only.

    >>> straggle({})
    >>> straggle({"straggler-delay-s": 0.01})
    """
    delay = float(node_config.get(STRAGGLER_DELAY_KEY, 0) or 0)
    if delay > 0:
        sleep(delay)


@dataclass(frozen=True)
class AppliedUpdate:
    """One training reply the loop took in: from which node, how stale, with what weight (0 when
    it was dropped for being older than ``async.max-staleness``), and the round it entered."""

    node_id: int
    staleness: int
    weight: float
    server_round: int


@dataclass
class AsyncRunSummary:
    """What the loop did: rounds (applications of updates), every reply it used or dropped,
    failures (error replies and timeouts) and train messages abandoned at the end."""

    rounds: int = 0
    updates: list[AppliedUpdate] = field(default_factory=list)
    dropped: list[AppliedUpdate] = field(default_factory=list)
    failures: int = 0
    abandoned: int = 0


@dataclass
class _Flight:
    node_id: int
    version: int
    deadline: float


def _to_numpy(record: ArrayRecord, keys: Sequence[str]) -> list[np.ndarray]:
    return [record[key].numpy() for key in keys]


def _to_record(arrays: Sequence[np.ndarray], keys: Sequence[str]) -> ArrayRecord:
    return ArrayRecord(
        OrderedDict(
            (key, Array(np.ascontiguousarray(a))) for key, a in zip(keys, arrays, strict=True)
        )
    )


def run_async_rounds(
    grid: Grid,
    *,
    settings: AsyncSettings,
    initial_arrays: ArrayRecord,
    num_rounds: int,
    train_config: ConfigRecord | Mapping[str, Any],
    evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None],
    seed: int = 42,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = POLL_S,
) -> AsyncRunSummary:
    """Train asynchronously until ``num_rounds`` applications of updates; return a summary.

    ``evaluate_fn(0, initial)`` runs first, as ``Strategy.start`` does. Raises
    :class:`AsyncTrainingError` when no participant answers usefully for ``settings.timeout_s``.
    """
    keys = list(initial_arrays.keys())
    current = _to_numpy(initial_arrays, keys)
    version = 0
    summary = AsyncRunSummary()
    evaluate_fn(0, initial_arrays)
    models: dict[int, list[np.ndarray]] = {0: current}  # versions that in-flight nodes hold
    in_flight: dict[str, _Flight] = {}
    resting: dict[int, float] = {}  # node -> when it may get work again after a failure
    buffer: list[BufferedUpdate] = []
    rng = random.Random(seed)
    last_progress = clock()
    base_config = dict(train_config)

    def dispatch() -> None:
        now = clock()
        nodes = sorted(grid.get_node_ids())
        busy = {f.node_id for f in in_flight.values()}
        idle = [n for n in nodes if n not in busy and resting.get(n, 0.0) <= now]
        wanted = (settings.concurrency or len(nodes)) - len(in_flight)
        if wanted <= 0 or not idle:
            return
        chosen = sorted(rng.sample(idle, min(wanted, len(idle))))
        record = _to_record(current, keys)
        config = ConfigRecord(
            {**base_config, "server-round": version + 1, MODEL_VERSION_KEY: version}
        )
        messages = [
            Message(
                content=RecordDict({"arrays": record, "config": config}),
                dst_node_id=node_id,
                message_type=MessageType.TRAIN,
                group_id=str(version + 1),
                ttl=settings.timeout_s,
            )
            for node_id in chosen
        ]
        ids = list(grid.push_messages(messages))
        assigned = [m.metadata.message_id for m in messages]  # a Grid sets them on push
        if sorted(assigned) != sorted(ids):  # a Grid that does not: rely on the order
            assigned = ids
        for message_id, node_id in zip(assigned, chosen, strict=True):
            in_flight[message_id] = _Flight(node_id, version, now + settings.timeout_s)
            resting.pop(node_id, None)

    def fail(flight: _Flight, why: str) -> None:
        summary.failures += 1
        resting[flight.node_id] = clock() + FAILED_NODE_REST_S
        log.warning("async training: node %s failed: %s", flight.node_id, why)

    def apply(reply: Message, flight: _Flight) -> bool:
        """Take one usable reply in; True when it completed a round."""
        nonlocal current, version, buffer
        staleness = version - flight.version
        trained = _to_numpy(reply.content["arrays"], keys)
        if settings.too_stale(staleness):
            summary.dropped.append(AppliedUpdate(flight.node_id, staleness, 0.0, version + 1))
            log.info("async training: dropped an update %d versions old", staleness)
            return False
        weight = settings.weight(staleness)
        summary.updates.append(AppliedUpdate(flight.node_id, staleness, weight, version + 1))
        if settings.strategy == "FedAsync":
            current = fedasync_mix(
                global_arrays=current, update=trained, mixing=settings.alpha * weight
            )
        else:
            delta = delta_between(trained=trained, received=models[flight.version])
            buffer.append(BufferedUpdate(delta=delta, staleness=staleness))
            if len(buffer) < settings.buffer_size:
                return False
            current = fedbuff_apply(
                global_arrays=current,
                buffer=buffer,
                server_lr=settings.server_lr,
                staleness=settings.staleness,
                a=settings.staleness_a,
                b=settings.staleness_b,
            )
            buffer = []
        version += 1
        models[version] = current
        return True

    try:
        while summary.rounds < num_rounds:
            dispatch()
            now = clock()
            if not in_flight:
                if now - last_progress > settings.timeout_s:
                    raise AsyncTrainingError(
                        f"no participant could train for {settings.timeout_s:.0f} s "
                        f"({summary.failures} failure(s)); bring participants back online"
                    )
                sleep(poll_s)
                continue
            replies = []
            for message_id in list(in_flight):
                # one id at a time: NatsGrid counts a training reply for the round in which it
                # is taken, so a reply taken after a round ended counts for the next one
                pulled = list(grid.pull_messages([message_id]))
                if not pulled:
                    continue
                reply = pulled[0]
                replies.append(reply)
                flight = in_flight.pop(message_id)
                if reply.has_error():
                    fail(flight, reply.error.reason)
                    continue
                if "arrays" not in reply.content:
                    fail(flight, "the reply carries no 'arrays' record")
                    continue
                last_progress = clock()
                if apply(reply, flight):
                    summary.rounds += 1
                    evaluate_fn(version, _to_record(current, keys))
                    if summary.rounds >= num_rounds:
                        break
            for message_id, flight in list(in_flight.items()):
                if clock() > flight.deadline:
                    del in_flight[message_id]
                    fail(flight, f"no reply within async.timeout-s = {settings.timeout_s} s")
            if clock() - last_progress > settings.timeout_s:
                raise AsyncTrainingError(
                    f"no usable update for {settings.timeout_s:.0f} s "
                    f"({summary.failures} failure(s)); the job gives up"
                )
            held = {f.version for f in in_flight.values()} | {version}
            for old in [v for v in models if v not in held]:
                del models[old]
            if not replies:
                sleep(poll_s)
    finally:
        summary.abandoned = len(in_flight)
        if in_flight:
            log.info(
                "async training ended with %d train message(s) in flight; their replies are "
                "ignored",
                len(in_flight),
            )
    return summary
