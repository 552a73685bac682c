"""Cross-device simulation: one ClientApp serving many virtual clients over Flower's ``Grid``.

:class:`VirtualGrid` implements ``flwr.serverapp.Grid`` for ``N`` virtual clients (node ids
``FIRST_NODE_ID .. FIRST_NODE_ID + N - 1``). Nothing exists per client until a message reaches
it: its node config (``partition-id``, ``num-partitions``, ``seed`` and the given options) is
computed from its index, its ``Context`` is built for that one call and dropped after it, and
only a non-empty ``context.state`` is kept between rounds (as the protobuf bytes of its
``RecordDict``, in the parent process). Client sampling is the strategy's own (Flower's
``sample_nodes`` over :meth:`VirtualGrid.get_node_ids`, sized by ``fraction-train`` and
``min-participants``).

Messages go through Flower's protobuf serde both ways, as on a real transport: the parent
serializes each instruction, a worker process deserializes it, calls the ClientApp and sends
back the serialized reply. Workers (``workers``, default: the machine's cores) load the
ClientApp once and take batches of messages; ``workers=0`` runs every call in this process. A
ClientApp exception becomes a Flower error reply (``CLIENT_APP_RAISED_EXCEPTION``, the reason
written as Flower's SuperNode writes it) and a worker that dies turns its batch into
``NODE_UNAVAILABLE`` replies, so the strategy counts failures and the run goes on.

Replies come back in the order the messages were pushed whatever worker finished first, and
:func:`simulate_virtual` seeds Python's ``random`` (which Flower's sampling uses) for the run
and restores it after: a run repeats exactly for a seed.

``python -m consortium_tasks.virtual --task devices-logreg --clients 10000`` runs a task and
prints its metrics per round.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import uuid4

from flwr.app import ArrayRecord, Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.common.logger import FLOWER_LOGGER
from flwr.common.serde import (
    message_from_proto,
    message_to_proto,
    recorddict_from_proto,
    recorddict_to_proto,
)
from flwr.common.serde_utils import error_to_proto, metadata_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run

from .registry import get_task, load_app
from .simulation import FIRST_NODE_ID, act_as_server

__all__ = [
    "DEFAULT_BATCH",
    "VirtualClients",
    "VirtualGrid",
    "VirtualRunResult",
    "main",
    "simulate_virtual",
]

DEFAULT_BATCH = 64
"""Most messages a worker takes at once (fewer when a round has few: every worker gets work)."""
WORKER_DIED_REASON = "the virtual client's worker process died"

# (node index, serialized Message, serialized state RecordDict or None)
WorkItem = tuple[int, bytes, bytes | None]
# (serialized reply Message, serialized state RecordDict or None)
WorkResult = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class VirtualClients:
    """What every virtual client shares: its app, the run, and how node configs are made.

    ``client_app`` is an import path (``pkg.module:attr``), loaded once per worker, or a
    ``ClientApp`` object (for ``workers=0`` or workers forked from this process).
    """

    client_app: str | ClientApp
    num_clients: int
    run_config: Mapping[str, Any]
    seed: int = 42
    node_options: Mapping[str, Any] = field(default_factory=dict)
    run_id: int = 1

    def node_config(self, index: int) -> dict[str, Any]:
        """Node config of virtual client ``index``: its partition of the task's data."""
        return {
            "partition-id": index,
            "num-partitions": self.num_clients,
            "seed": self.seed,
            **self.node_options,
        }


# ---- worker side -------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(clients: VirtualClients) -> None:
    """Load the ClientApp once per worker; one torch thread (the workers are the parallelism)."""
    import torch

    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)
    app = clients.client_app
    _WORKER["app"] = load_app(app) if isinstance(app, str) else app
    _WORKER["clients"] = clients


def _run_batch(items: Sequence[WorkItem]) -> list[WorkResult]:
    """Deliver each serialized message to the ClientApp; serialized replies and states."""
    return [_call_client(_WORKER["app"], _WORKER["clients"], item) for item in items]


def _call_client(app: ClientApp, clients: VirtualClients, item: WorkItem) -> WorkResult:
    index, message_bytes, state_bytes = item
    message = message_from_proto(ProtoMessage.FromString(message_bytes))
    state = (
        RecordDict()
        if state_bytes is None
        else recorddict_from_proto(ProtoRecordDict.FromString(state_bytes))
    )
    context = Context(
        run_id=clients.run_id,
        node_id=message.metadata.dst_node_id,
        node_config=clients.node_config(index),
        state=state,
        run_config=dict(clients.run_config),
    )
    try:
        reply = app(message, context)
    except Exception as error:  # every ClientApp failure becomes a reply
        reason = str(type(error)) + ":<'" + str(error) + "'>"  # as Flower's SuperNode says it
        error_reply = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason)
        reply = Message(error_reply, reply_to=message)
    kept = recorddict_to_proto(context.state).SerializeToString() if context.state else None
    return message_to_proto(reply).SerializeToString(), kept


# ---- parent side -------------------------------------------------------------------------


class VirtualGrid(Grid):
    """A Flower ``Grid`` whose nodes are virtual clients served by worker processes.

    ``round_metrics`` holds the ServerApp's held-out metrics per round (``notify_round_end``);
    ``failures`` counts error replies per message type; ``calls`` counts ClientApp calls.
    """

    def __init__(
        self,
        clients: VirtualClients,
        *,
        workers: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        start_method: str = "fork",
    ) -> None:
        self._clients = clients
        self._workers = (os.cpu_count() or 1) if workers is None else workers
        self._batch_size = batch_size
        self._start_method = start_method
        self._run = Run.create_empty(clients.run_id)
        self._node_ids = range(FIRST_NODE_ID, FIRST_NODE_ID + clients.num_clients)
        self._states: dict[int, bytes] = {}
        self._replies: dict[str, Message] = {}
        self._executor: ProcessPoolExecutor | None = None
        self._local_app: ClientApp | None = None
        self.round_metrics: dict[int, dict[str, float]] = {}
        self.failures: dict[str, int] = {}
        self.calls = 0

    # -- lifecycle
    def __enter__(self) -> VirtualGrid:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes (a no-op with ``workers=0``)."""
        if self._workers > 0 and self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context(self._start_method),
                initializer=_init_worker,
                initargs=(self._clients,),
            )
            # start every worker now, so that the first round does not pay for it
            list(self._executor.map(_noop, range(self._workers)))

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for memory accounting)."""
        if self._executor is None:
            return []
        processes = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    @property
    def kept_states(self) -> int:
        """How many virtual clients have a non-empty ``Context.state`` kept between rounds."""
        return len(self._states)

    # -- Grid
    def set_run(self, run: Run) -> None:
        """Use ``run`` as this Grid's run."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run this Grid serves."""
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """A message to ``dst_node_id`` (Flower's deprecated helper, kept for old apps)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """The ids of every virtual client (all of them are always available)."""
        return list(self._node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver ``messages`` to their virtual clients now; keep the replies for pulling."""
        batch = list(messages)
        message_ids = []
        for message in batch:
            if message.metadata.dst_node_id not in self._node_ids:
                raise ValueError(f"no virtual client has node id {message.metadata.dst_node_id}")
            message.metadata.__dict__["_message_id"] = uuid4().hex
            message_ids.append(message.metadata.message_id)
        for message, (reply_bytes, state) in zip(batch, self._deliver(batch), strict=True):
            reply = message_from_proto(ProtoMessage.FromString(reply_bytes))
            reply.metadata.__dict__["_message_id"] = uuid4().hex
            node_id = message.metadata.dst_node_id
            if state is None:
                self._states.pop(node_id, None)
            else:
                self._states[node_id] = state
            if reply.has_error():
                kind = message.metadata.message_type
                self.failures[kind] = self.failures.get(kind, 0) + 1
            self._replies[message.metadata.message_id] = reply
        self.calls += len(batch)
        return message_ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Return (once) the replies to ``message_ids`` that are ready."""
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push ``messages`` and return every reply, in the order of ``messages``."""
        return self.pull_messages(self.push_messages(messages))

    def on_round_end(
        self, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
    ) -> None:
        """Record the ServerApp's held-out metrics per round (see ``notify_round_end``)."""
        self.round_metrics[server_round] = dict(metrics)

    # -- delivery
    def _items(self, messages: Sequence[Message]) -> Iterator[WorkItem]:
        """Each message serialized as ``message_to_proto`` does, the content of a strategy's
        messages (one ``RecordDict`` shared by all) converted once per call."""
        contents: dict[int, ProtoRecordDict] = {}
        for message in messages:
            node_id = message.metadata.dst_node_id
            proto = ProtoMessage(metadata=metadata_to_proto(message.metadata))
            if message.has_error():
                proto.error.CopyFrom(error_to_proto(message.error))
            else:
                key = id(message.content)
                if key not in contents:
                    contents[key] = recorddict_to_proto(message.content)
                proto.content.CopyFrom(contents[key])
            yield node_id - FIRST_NODE_ID, proto.SerializeToString(), self._states.get(node_id)

    def _deliver(self, messages: Sequence[Message]) -> list[WorkResult]:
        if not messages:
            return []
        if self._workers == 0:
            if self._local_app is None:
                app = self._clients.client_app
                self._local_app = cast(ClientApp, load_app(app) if isinstance(app, str) else app)
            return [_call_client(self._local_app, self._clients, i) for i in self._items(messages)]
        self.start()
        size = max(1, min(self._batch_size, -(-len(messages) // (4 * self._workers))))
        items = self._items(messages)
        futures: list[tuple[Future[list[WorkResult]], list[Message]]] = []
        for start in range(0, len(messages), size):
            chunk = messages[start : start + size]
            work = [next(items) for _ in chunk]
            futures.append((self._submit(work), list(chunk)))
        results: list[WorkResult] = []
        broken = False
        for future, chunk in futures:
            try:
                results.extend(future.result())
            except BrokenProcessPool:
                broken = True
                results.extend(_unavailable(m) for m in chunk)
        if broken:
            self.close()  # a worker died: start afresh for the next messages
        return results

    def _submit(self, work: list[WorkItem]) -> Future[list[WorkResult]]:
        assert self._executor is not None
        try:
            return self._executor.submit(_run_batch, work)
        except BrokenProcessPool:
            failed: Future[list[WorkResult]] = Future()
            failed.set_exception(BrokenProcessPool(WORKER_DIED_REASON))
            return failed


def _noop(_: int) -> None:
    return None


def _unavailable(message: Message) -> WorkResult:
    error = Error(code=ErrorCode.NODE_UNAVAILABLE, reason=WORKER_DIED_REASON)
    return message_to_proto(Message(error, reply_to=message)).SerializeToString(), None


# ---- entry points ------------------------------------------------------------------------


@dataclass(frozen=True)
class VirtualRunResult:
    """What a virtual run measured: held-out metrics per round (0 = the initial model), error
    replies per message type, ClientApp calls, wall time and the states kept at the end."""

    round_metrics: dict[int, dict[str, float]]
    failures: dict[str, int]
    calls: int
    seconds: float
    kept_states: int


def simulate_virtual(
    task_name: str,
    *,
    num_clients: int,
    run_config: Mapping[str, Any] | None = None,
    workers: int | None = None,
    seed: int = 42,
    node_options: Mapping[str, Any] | None = None,
    client_app: str | ClientApp | None = None,
    server_app: ServerApp | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_grid: Any = None,
) -> VirtualRunResult:
    """Run built-in task ``task_name``'s ServerApp over ``num_clients`` virtual clients.

    ``run_config`` is the job's (``num-server-rounds``, ``fraction-train``, ...); by default
    ``min-participants`` is 1 and the final membership audit is off (it would query every
    client). ``client_app``/``server_app`` replace the task's own; ``on_grid(grid)`` is called
    once the workers run (the benchmark reads their process ids there).
    """
    spec = get_task(task_name)
    config = {"min-participants": 1, "membership-audit": False, **(run_config or {})}
    clients = VirtualClients(
        client_app=client_app or spec.client_app,
        num_clients=num_clients,
        run_config=config,
        seed=seed,
        node_options=dict(node_options or {}),
    )
    server = server_app or cast(ServerApp, load_app(spec.server_app))
    saved_random = random.getstate()
    random.seed(seed)
    t0 = time.perf_counter()
    try:
        with VirtualGrid(clients, workers=workers, batch_size=batch_size) as grid:
            if on_grid is not None:
                on_grid(grid)
            act_as_server(run_id=grid.run.run_id)
            server_context = Context(
                run_id=grid.run.run_id,
                node_id=SUPERLINK_NODE_ID,
                node_config={},
                state=RecordDict(),
                run_config=config,
            )
            server(grid, server_context)
    finally:
        random.setstate(saved_random)
    return VirtualRunResult(
        round_metrics=grid.round_metrics,
        failures=dict(grid.failures),
        calls=grid.calls,
        seconds=time.perf_counter() - t0,
        kept_states=grid.kept_states,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m consortium_tasks.virtual``: run a task over many virtual clients."""
    parser = argparse.ArgumentParser(
        prog="python -m consortium_tasks.virtual",
        description="Run a built-in task's ServerApp over many virtual clients.",
    )
    parser.add_argument("--task", default="devices-logreg")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fraction-train", type=float, default=0.1)
    parser.add_argument("--fraction-evaluate", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=None, help="default: the CPU cores")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="more run config"
    )
    args = parser.parse_args(argv)
    extra = dict(_parse_setting(item) for item in args.set)
    result = simulate_virtual(
        args.task,
        num_clients=args.clients,
        workers=args.workers,
        seed=args.seed,
        run_config={
            "num-server-rounds": args.rounds,
            "fraction-train": args.fraction_train,
            "fraction-evaluate": args.fraction_evaluate,
            **extra,
        },
    )
    print(json.dumps({**result.__dict__}, indent=2))
    return 0


def _parse_setting(item: str) -> tuple[str, Any]:
    key, _, text = item.partition("=")
    try:
        return key, json.loads(text)
    except json.JSONDecodeError:
        return key, text


if __name__ == "__main__":
    sys.exit(main())
