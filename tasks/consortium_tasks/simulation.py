"""Run a task's real ServerApp and ClientApp in one process, for tests and quick experiments.

:class:`InProcessGrid` implements Flower's ``Grid`` by calling the ClientApp directly: each
message goes through Flower's protobuf serde both ways, as on a real transport, and each node
keeps one ``Context`` for the whole run. It is a development harness, not a runtime: a ClientApp
exception propagates instead of becoming an error reply, and there are no TTLs.

With ``reply_delays`` (seconds per node id) replies become ready out of order on a real clock:
the ClientApp still answers at push time, but ``pull_messages`` returns a reply only once its
node's delay has passed, and ``send_and_receive`` waits for the slowest (a straggler), so
asynchronous server loops (``consortium_tasks.asynchronous``) can be tried in one process.

``python -m consortium_tasks.compare`` uses it to compare federated training with the baselines;
``make bench BENCH=privacy`` uses :func:`simulate` for what each participant reported
(``participant_reports``, as the coordinator keeps them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import uuid4

from flwr.app import ArrayRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from .registry import get_task, load_app

__all__ = ["InProcessGrid", "MessageBytes", "act_as_server", "run_in_process", "simulate"]

FIRST_NODE_ID = 100


@dataclass(frozen=True)
class MessageBytes:
    """The protobuf size of one message to a node (``down``) and of its reply (``up``)."""

    message_type: str
    node_id: int
    server_round: int  # from the message's config record, 0 when it has none
    down: int
    up: int


class InProcessGrid(Grid):
    """A Flower ``Grid`` whose nodes are ClientApp calls in this process.

    ``round_metrics`` holds the ServerApp's held-out metrics per round; ``participant_reports``
    the metrics of every training reply, ``(node_id, metrics)`` in the order they came, never
    averaged (each participant's ``dp_*`` spend, for instance); ``query_reports`` the answers to
    queries after training, by action and node; ``message_bytes`` the protobuf size of every
    message and its reply, in order (:class:`MessageBytes`).
    """

    def __init__(
        self,
        client_app: ClientApp,
        node_configs: Sequence[Mapping[str, Any]],
        run_config: Mapping[str, Any],
        run_id: int = 1,
        reply_delays: Mapping[int, float] | None = None,
        on_wire: Callable[[bytes], None] | None = None,
    ) -> None:
        self._client_app = client_app
        self._on_wire = on_wire  # sees every serialized message and reply (tests of leaks)
        self._reply_delays = dict(reply_delays or {})
        self._ready_at: dict[str, float] = {}
        self.round_times: dict[int, float] = {}  # time.monotonic() at each round's end
        self._run = Run.create_empty(run_id)
        self._contexts = {
            FIRST_NODE_ID + index: Context(
                run_id=run_id,
                node_id=FIRST_NODE_ID + index,
                node_config=dict(node_config),
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for index, node_config in enumerate(node_configs)
        }
        self._replies: dict[str, Message] = {}
        self.round_metrics: dict[int, dict[str, float]] = {}
        self.participant_reports: list[tuple[int, dict[str, Any]]] = []
        self.query_reports: dict[str, dict[int, dict[str, Any]]] = {}
        self.message_bytes: list[MessageBytes] = []

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
        """The ids of the in-process nodes."""
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node's ClientApp now, in node order (so that runs repeat
        exactly); keep the reply for pulling."""
        message_ids = []
        for message in sorted(messages, key=lambda m: m.metadata.dst_node_id):
            message_id = uuid4().hex
            message.metadata.__dict__["_message_id"] = message_id
            sent_proto = message_to_proto(message)
            delivered = message_from_proto(sent_proto)
            reply = self._client_app(delivered, self._contexts[message.metadata.dst_node_id])
            reply.metadata.__dict__["_message_id"] = uuid4().hex
            reply_proto = message_to_proto(reply)
            if self._on_wire is not None:
                self._on_wire(sent_proto.SerializeToString())
                self._on_wire(reply_proto.SerializeToString())
            self._replies[message_id] = message_from_proto(reply_proto)
            self.message_bytes.append(
                MessageBytes(
                    message_type=message.metadata.message_type,
                    node_id=message.metadata.dst_node_id,
                    server_round=_server_round(message),
                    down=sent_proto.ByteSize(),
                    up=reply_proto.ByteSize(),
                )
            )
            delay = self._reply_delays.get(message.metadata.dst_node_id, 0.0)
            if delay > 0:
                self._ready_at[message_id] = time.monotonic() + delay
            message_ids.append(message_id)
            self._keep_report(message, self._replies[message_id])
        return message_ids

    def _keep_report(self, message: Message, reply: Message) -> None:
        kind = message.metadata.message_type
        if (
            kind.startswith(f"{MessageType.QUERY}.")
            and not reply.has_error()
            and "metrics" in reply.content
        ):
            answers = self.query_reports.setdefault(kind.split(".", 1)[1], {})
            answers[message.metadata.dst_node_id] = dict(reply.content["metrics"])
        if kind != MessageType.TRAIN or reply.has_error():
            return
        if "metrics" in reply.content:
            node_id = message.metadata.dst_node_id
            self.participant_reports.append((node_id, dict(reply.content["metrics"])))

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Return (once) the replies to ``message_ids`` that are ready."""
        now = time.monotonic()
        ready = [i for i in message_ids if i in self._replies and self._ready_at.get(i, 0.0) <= now]
        for i in ready:
            self._ready_at.pop(i, None)
        return [self._replies.pop(i) for i in ready]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push ``messages`` and return every reply (nodes answer synchronously; with
        ``reply_delays``, wait for the slowest, at most ``timeout`` seconds)."""
        message_ids = list(self.push_messages(messages))
        waits = [self._ready_at[i] - time.monotonic() for i in message_ids if i in self._ready_at]
        if waits:
            time.sleep(max(0.0, min(max(waits), timeout if timeout is not None else max(waits))))
        return self.pull_messages(message_ids)

    def on_round_end(
        self, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
    ) -> None:
        """Record the ServerApp's held-out metrics per round (see ``notify_round_end``)."""
        self.round_metrics[server_round] = dict(metrics)
        self.round_times[server_round] = time.monotonic()


def _server_round(message: Message) -> int:
    """The round a message is for: in its ``config`` record, or, for SecAgg+'s training stage
    (Flower's legacy FitIns), in ``fitins.config``."""
    records = message.content.config_records if message.has_content() else {}
    config = records.get("config") or records.get("fitins.config")
    value = config.get("server-round", 0) if config is not None else 0
    return int(value) if isinstance(value, int | float) else 0


def act_as_server(*, run_id: int, task_id: int = 1) -> None:
    """Give this process a ServerApp's identity, which ``Message(...)`` needs (Flower's rule)."""
    TaskIdentity.task_id = task_id
    TaskIdentity.run_id = run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID


def simulate(
    task_name: str,
    *,
    num_partitions: int,
    partitioner_spec: str = "dirichlet(0.5)",
    seed: int = 42,
    run_config: Mapping[str, Any] | None = None,
    node_options: Mapping[str, Any] | None = None,
    server_app: ServerApp | None = None,
    partition_delays: Mapping[int, float] | None = None,
    client_app: ClientApp | None = None,
    per_node_options: Sequence[Mapping[str, Any]] | None = None,
) -> InProcessGrid:
    """Run built-in task ``task_name`` with simulated participants; return the Grid, with the
    held-out metrics per round and what every participant reported.

    ``node_options`` are added to every participant's node config (``public-fraction``);
    ``server_app`` replaces the task's own ServerApp (a variant that starts from another model)
    and ``client_app`` its ClientApp (one with simulated attackers, for instance);
    ``partition_delays`` makes the replies of those partitions' nodes ready that many seconds
    late (stragglers, see :class:`InProcessGrid`); ``per_node_options[i]`` is added to
    partition ``i``'s node config only (an identity folder each, for ``he-ckks`` jobs: see
    :func:`consortium_tasks.homomorphic.identities.make_identities`).
    """
    spec = get_task(task_name)
    node_configs = [
        {
            "partition-id": partition_id,
            "num-partitions": num_partitions,
            "partition": partitioner_spec,
            "seed": seed,
            **(node_options or {}),
            **(per_node_options[partition_id] if per_node_options else {}),
        }
        for partition_id in range(num_partitions)
    ]
    config = {"min-participants": num_partitions, **(run_config or {})}
    client_app = client_app or cast(ClientApp, load_app(spec.client_app))
    server = server_app or cast(ServerApp, load_app(spec.server_app))
    grid = InProcessGrid(
        client_app,
        node_configs,
        config,
        reply_delays={
            FIRST_NODE_ID + partition: delay
            for partition, delay in (partition_delays or {}).items()
        },
    )
    act_as_server(run_id=grid.run.run_id)
    server_context = Context(
        run_id=grid.run.run_id,
        node_id=SUPERLINK_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=config,
    )
    server(grid, server_context)
    return grid


def run_in_process(
    task_name: str,
    *,
    num_partitions: int,
    partitioner_spec: str = "dirichlet(0.5)",
    seed: int = 42,
    run_config: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, float]]:
    """Run built-in task ``task_name`` with simulated participants; metrics per round (0 first)."""
    return simulate(
        task_name,
        num_partitions=num_partitions,
        partitioner_spec=partitioner_spec,
        seed=seed,
        run_config=run_config,
    ).round_metrics
