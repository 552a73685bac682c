"""Flower's ``Grid`` carried over NATS: what a ServerApp uses to reach participants.

Points of Flower's contract that the interface does not state, and that this class keeps: the Grid
assigns message ids and replies are matched on ``reply_to_message_id``, each returned once; TTLs
and error replies (``NODE_UNAVAILABLE``, ``MESSAGE_UNAVAILABLE``) are the transport's job and carry
``reply_to_message_id``. On top of Flower's contract it refuses unsound updates (wrong shapes,
NaN, Inf) per participant, fails a training round that keeps fewer usable updates than the job's
minimum, and reports every round's bytes, time and failures to the coordinator.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from consortium_core.contracts.audit import Direction
from consortium_core.contribution import ContributionSettings
from consortium_core.errors import InvalidUpdateError, WireFormatError
from consortium_core.homomorphic import MODEL_RECORD, HomomorphicSettings
from consortium_core.privacy.job_budget import BudgetTracker, JobBudget, missing_spend
from consortium_core.rounds import StopTraining
from consortium_core.secure_aggregation import SecureAggregationSettings
from consortium_core.validation import check_update
from consortium_core.wire import decode_frame, encode_frame, frame_size
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Error,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from ..errors import JobStoppedError, RoundFailedError
from .hub import NatsHub

__all__ = ["ExchangeRecorder", "NatsGrid", "RoundReport", "plaintext_arrays_in"]

log = logging.getLogger(__name__)

SERVER_NODE_ID = 0


class ExchangeRecorder(Protocol):
    """Receives every parameter exchange for the audit log (see ``audit.AuditPublisher``)."""

    def __call__(
        self,
        *,
        job_id: str,
        server_round: int,
        participant_id: str,
        direction: Direction,
        message_type: str,
        message_id: str,
        frame: Sequence[bytes | bytearray | memoryview],
    ) -> None: ...


@dataclass
class RoundReport:
    """What the Grid saw during one round, handed to the coordinator at the round's end."""

    server_round: int
    arrays: ArrayRecord
    metrics: dict[str, float]
    duration_s: float
    bytes_sent: int
    bytes_received: int
    participants: list[str]  # whose training update the round aggregated
    failures: dict[str, str]
    participant_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    updates: dict[str, ArrayRecord] = field(default_factory=dict)
    """each participant's trained model, kept only when the job scores contributions"""


@dataclass
class _Pending:
    message: Message
    participant_id: str | None
    deadline: float


@dataclass
class _RoundCounters:
    started: float = field(default_factory=time.monotonic)
    bytes_sent: int = 0
    bytes_received: int = 0
    participants: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    participant_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    updates: dict[str, ArrayRecord] = field(default_factory=dict)


_METRIC_RECORDS = ("metrics", "fitres.metrics")  # message API; Flower's legacy layout (SecAgg+)


def _scalar_metrics(reply: Message) -> dict[str, float]:
    """The numbers a participant reported with its update (its metrics record)."""
    if not reply.has_content():
        return {}
    for key in _METRIC_RECORDS:
        record = reply.content.get(key)
        if isinstance(record, MetricRecord | ConfigRecord):
            return {
                k: float(v)
                for k, v in record.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
    return {}


def plaintext_arrays_in(reply: Message) -> str | None:
    """Why ``reply`` must not enter a secure-aggregation job: it carries model arrays in the
    clear (SecAgg+ replies carry masked vectors as bytes and empty array records), else None.

    >>> from flwr.app import Array
    >>> import numpy as np
    >>> from consortium_tasks.simulation import act_as_server
    >>> act_as_server(run_id=1)
    >>> masked = Message(RecordDict({"fitres.parameters": ArrayRecord()}), dst_node_id=1,
    ...                  message_type=MessageType.TRAIN)
    >>> plaintext_arrays_in(masked) is None
    True
    >>> clear = Message(RecordDict({"arrays": ArrayRecord({"w": Array(np.ones(2))})}),
    ...                 dst_node_id=1, message_type=MessageType.TRAIN)
    >>> plaintext_arrays_in(clear)
    "a plaintext update (record 'arrays', 1 array(s)) under secure aggregation"
    """
    if not reply.has_content():
        return None
    for key, record in reply.content.array_records.items():
        if len(record) > 0:
            return (
                f"a plaintext update (record {key!r}, {len(record)} array(s)) "
                "under secure aggregation"
            )
    return None


class NatsGrid(Grid):
    """A Grid for one job. Methods run on the ServerApp's thread; the hub feeds it replies."""

    def __init__(
        self,
        *,
        hub: NatsHub,
        job_id: str,
        task: str,
        run_config: Mapping[str, Any],
        min_participants: int,
        stop_requested: threading.Event,
        on_round_end: Callable[[RoundReport], None] | None = None,
        on_exchange: ExchangeRecorder | None = None,
        participants: set[str] | None = None,
    ) -> None:
        self._hub = hub
        self._only = participants  # a resumed job: its own participants, no newcomers
        self.job_id = job_id
        self.task = task
        self.run_config = dict(run_config)
        self.min_participants = min_participants
        # SecAgg+ and he-ckks: the server must never take one participant's update in the clear
        self.secure_aggregation = (
            SecureAggregationSettings.from_run_config(run_config) is not None
            or HomomorphicSettings.from_run_config(run_config) is not None
        )
        self.contributions = ContributionSettings.from_run_config(run_config)
        budget = JobBudget.from_run_config(run_config)
        self.budget = BudgetTracker(budget) if budget is not None else None
        self._num_rounds = int(run_config.get("num-server-rounds", 0))
        self._stop = stop_requested
        self._on_round_end = on_round_end
        self._on_exchange = on_exchange
        self._round = 1  # the round in progress; advanced by on_round_end
        self._run: Run | None = None
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._pending: dict[str, _Pending] = {}
        self._replies: dict[str, Message] = {}
        # a training reply counts for the round in which the ServerApp takes it (pull), not the
        # one in which it arrived: an asynchronous ServerApp ends rounds while others are out
        self._untaken_training: dict[str, str] = {}  # message id -> participant
        self._counters = _RoundCounters()
        self.audits: dict[str, dict[str, float]] = {}  # answers to query messages
        self.total_bytes_sent = 0
        self.total_bytes_received = 0

    # --- fed by the hub (event-loop thread) -------------------------------------------------
    def deliver(self, participant_id: str, frame: Sequence[memoryview] | bytes | bytearray) -> None:
        """Queue a reply frame; it is decoded on the ServerApp's thread."""
        self._inbox.put(("reply", (participant_id, frame)))

    def participant_offline(self, participant_id: str) -> None:
        """Queue the news that a participant went offline."""
        self._inbox.put(("offline", participant_id))

    def participant_back(self, participant_id: str) -> None:
        """Queue the news that a participant is back within reach (see the hub)."""
        self._inbox.put(("back", participant_id))

    # --- Flower's Grid ------------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        if self._run is None:
            raise RuntimeError("NatsGrid.set_run() was not called")
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(
            content=content,
            dst_node_id=dst_node_id,
            message_type=message_type,
            group_id=group_id,
            ttl=ttl,
        )

    def get_node_ids(self) -> Iterable[int]:
        return [
            entry.node_id
            for entry in self._hub.presence.online(task=self.task)
            if self._only is None or entry.participant_id in self._only
        ]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        self._check_stop()
        ids = []
        for message in messages:
            ids.append(self._push_one(message))
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        self._process_inbox(block_s=0.0)
        self._expire_pending()
        return [self._take(mid) for mid in message_ids if mid in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        ids = list(self.push_messages(messages))
        wanted = set(ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(mid in self._pending for mid in wanted):
            self._check_stop()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self._process_inbox(block_s=min(0.2, remaining) if remaining is not None else 0.2)
            self._expire_pending()
        for mid in wanted:
            if mid in self._pending:
                self._fail_pending(
                    mid,
                    ErrorCode.MESSAGE_UNAVAILABLE,
                    f"no reply within the round timeout of {timeout} s",
                )
        replies = [self._take(mid) for mid in ids if mid in self._replies]
        if messages and all(m.metadata.message_type == MessageType.TRAIN for m in messages):
            self._check_minimum(replies)
        return replies

    # --- round reporting ----------------------------------------------------------------------
    def on_round_end(
        self, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
    ) -> None:
        """Called by the ServerApp (``notify_round_end``) after each round, and for round 0."""
        counters, self._counters = self._counters, _RoundCounters()
        self._round = server_round + 1
        report = RoundReport(
            server_round=server_round,
            arrays=arrays,
            metrics={k: float(v) for k, v in metrics.items()},
            duration_s=time.monotonic() - counters.started,
            bytes_sent=counters.bytes_sent,
            bytes_received=counters.bytes_received,
            participants=sorted(counters.participants),
            failures=dict(counters.failures),
            participant_metrics=dict(counters.participant_metrics),
            updates=dict(counters.updates),
        )
        if self._on_round_end is not None:
            self._on_round_end(report)
        if self.budget is not None and server_round > 0:
            self.budget.record_round(report.participant_metrics)
            reason = self.budget.exceeded_by_next_round()
            if reason is not None and server_round < self._num_rounds:
                raise StopTraining(f"{reason}; stopped before round {server_round + 1}")

    def resume_after(
        self, server_round: int, participant_metrics: list[Mapping[str, Mapping[str, float]]]
    ) -> None:
        """Go on after ``server_round`` (a restarted coordinator): the next round is
        ``server_round + 1`` and the job's budget counts the stored rounds' spend."""
        self._round = server_round + 1
        if self.budget is not None:
            for reported in participant_metrics:
                self.budget.record_round(reported)

    # --- internals ----------------------------------------------------------------------------
    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise JobStoppedError(f"job {self.job_id} was stopped")

    def _push_one(self, message: Message) -> str:
        meta = message.metadata
        message_id = uuid.uuid4().hex
        meta.__dict__["_message_id"] = message_id
        meta.__dict__["_run_id"] = self.run.run_id
        meta.__dict__["_src_node_id"] = SERVER_NODE_ID
        entry = self._hub.presence.participant_of(meta.dst_node_id)
        pending = _Pending(
            message, entry.participant_id if entry else None, time.monotonic() + meta.ttl
        )
        self._pending[message_id] = pending
        if entry is None or not entry.online:
            who = entry.participant_id if entry else f"node {meta.dst_node_id}"
            self._fail_pending(message_id, ErrorCode.NODE_UNAVAILABLE, f"{who} is offline")
            return message_id
        self._send(entry.participant_id, message)
        return message_id

    def _send(self, participant_id: str, message: Message) -> None:
        buffers = encode_frame(
            message, {"job_id": self.job_id, "task": self.task, "run_config": self.run_config}
        )
        sent = self._hub.send_from_thread(participant_id, buffers)
        self._record(participant_id, "to_participant", message, buffers)
        self._counters.bytes_sent += sent
        self.total_bytes_sent += sent

    def _send_again(self, participant_id: str) -> None:
        """Send ``participant_id`` its unanswered messages again, under their own ids: one
        may have been lost while it or the coordinator reconnected."""
        for pending in list(self._pending.values()):
            if pending.participant_id == participant_id:
                log.info(
                    "job %s: sending %s its %s message again (it may have been lost)",
                    self.job_id,
                    participant_id,
                    pending.message.metadata.message_type,
                )
                self._send(participant_id, pending.message)

    def _record(
        self,
        participant_id: str,
        direction: Direction,
        message: Message,
        frame: Sequence[bytes | bytearray | memoryview],
    ) -> None:
        if self._on_exchange is not None:
            query = message.metadata.message_type.startswith(MessageType.QUERY)
            self._on_exchange(
                job_id=self.job_id,
                # a query after training asks about the last completed round's model
                server_round=self._round - 1 if query else self._round,
                participant_id=participant_id,
                direction=direction,
                message_type=message.metadata.message_type,
                message_id=message.metadata.message_id,
                frame=frame,
            )

    def _process_inbox(self, *, block_s: float) -> None:
        try:
            kind, payload = (
                self._inbox.get(timeout=block_s) if block_s > 0 else self._inbox.get_nowait()
            )
        except queue.Empty:
            return
        while True:
            if kind == "reply":
                self._accept_reply(*payload)
            elif kind == "back":
                self._send_again(payload)
            else:
                self._participant_gone(payload)
            try:
                kind, payload = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _accept_reply(
        self, participant_id: str, frame: Sequence[memoryview] | bytes | bytearray
    ) -> None:
        size = frame_size(frame) if isinstance(frame, list) else len(frame)
        self._counters.bytes_received += size
        self.total_bytes_received += size
        try:
            reply, _ = decode_frame(frame)
        except WireFormatError as exc:
            log.warning("job %s: undecodable reply from %s: %s", self.job_id, participant_id, exc)
            return
        mid = reply.metadata.reply_to_message_id
        pending = self._pending.get(mid)
        if pending is None or pending.participant_id != participant_id:
            log.warning(
                "job %s: unexpected reply from %s (to %r)", self.job_id, participant_id, mid
            )
            return
        if self.secure_aggregation and (leak := plaintext_arrays_in(reply)) is not None:
            # Under SecAgg+ the server never keeps one participant's update in the clear: the
            # reply is dropped here, where it enters, and the participant counts as failed.
            del reply
            log.error("job %s: refused %s from %s", self.job_id, leak, participant_id)
            self._fail_pending(mid, ErrorCode.CLIENT_APP_RAISED_EXCEPTION, f"refused {leak}")
            return
        if reply.has_error():
            self._counters.failures[participant_id] = reply.error.reason
            log.warning(
                "job %s: %s replied with an error: %s",
                self.job_id,
                participant_id,
                reply.error.reason,
            )
        else:
            problem = self._problem_with(pending.message, reply)
            if problem is not None:
                log.warning(
                    "job %s: refused the update of %s: %s", self.job_id, participant_id, problem
                )
                self._fail_pending(
                    mid, ErrorCode.CLIENT_APP_RAISED_EXCEPTION, f"update refused: {problem}"
                )
                return
            if pending.message.metadata.message_type.startswith(MessageType.QUERY):
                self.audits.setdefault(participant_id, {}).update(_scalar_metrics(reply))
            if pending.message.metadata.message_type.split(".")[0] == MessageType.TRAIN:
                # "train" and "train.<action>" (a vertical job's steps) count the participant
                self._untaken_training[mid] = participant_id
        self._record(participant_id, "from_participant", pending.message, frame)
        reply.metadata.__dict__["_message_id"] = uuid.uuid4().hex
        del self._pending[mid]
        self._replies[mid] = reply

    def _take(self, message_id: str) -> Message:
        """Hand a reply to the ServerApp; a training update counts for the round now going."""
        reply = self._replies.pop(message_id)
        participant_id = self._untaken_training.pop(message_id, None)
        if participant_id is not None:
            self._counters.participants.add(participant_id)
            reported = _scalar_metrics(reply)
            if reported:  # SecAgg+ stages without training report nothing
                self._counters.participant_metrics[participant_id] = reported
            if self.contributions is not None and reply.content.array_records:
                self._counters.updates[participant_id] = next(
                    iter(reply.content.array_records.values())
                )
        return reply

    def _problem_with(self, sent: Message, reply: Message) -> str | None:
        if sent.metadata.message_type != MessageType.TRAIN or not sent.has_content():
            return None
        trains = any(len(record) for record in sent.content.array_records.values()) or (
            MODEL_RECORD in sent.content.config_records  # a he-ckks job's encrypted model
        )
        if trains and self.budget is not None:
            missing = missing_spend(_scalar_metrics(reply))
            if missing is not None:
                return f"the job has a privacy budget and {missing}"
        for key, record in sent.content.items():
            if isinstance(record, ArrayRecord) and key in reply.content:
                received = reply.content[key]
                if not isinstance(received, ArrayRecord):
                    return f"record {key!r} is not an ArrayRecord"
                try:
                    check_update(sent=record, received=received)
                except InvalidUpdateError as exc:
                    return str(exc)
        return None

    def _participant_gone(self, participant_id: str) -> None:
        for mid, pending in list(self._pending.items()):
            if pending.participant_id == participant_id:
                self._fail_pending(
                    mid,
                    ErrorCode.NODE_UNAVAILABLE,
                    f"{participant_id} went offline during the round",
                )

    def _expire_pending(self) -> None:
        now = time.monotonic()
        for mid, pending in list(self._pending.items()):
            if now > pending.deadline:
                self._fail_pending(
                    mid,
                    ErrorCode.MESSAGE_UNAVAILABLE,
                    "the message expired (TTL) before a reply came",
                )

    def _fail_pending(self, message_id: str, code: int, reason: str) -> None:
        pending = self._pending.pop(message_id)
        who = pending.participant_id or f"node {pending.message.metadata.dst_node_id}"
        self._counters.failures[who] = reason
        error_reply = Message(Error(code=code, reason=reason), reply_to=pending.message)
        error_reply.metadata.__dict__["_message_id"] = uuid.uuid4().hex
        self._replies[message_id] = error_reply

    def _check_minimum(self, replies: list[Message]) -> None:
        usable = [r for r in replies if not r.has_error()]
        if len(usable) >= self.min_participants:
            return
        failures = "; ".join(
            f"{who}: {why}" for who, why in sorted(self._counters.failures.items())
        )
        raise RoundFailedError(
            f"only {len(usable)} of {len(replies)} participants returned a usable update, "
            f"the job needs at least {self.min_participants}"
            + (f" ({failures})" if failures else "")
            + ". Bring participants back online or lower min_participants."
        )
