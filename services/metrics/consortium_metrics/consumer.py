"""The durable JetStream consumer of every job event, into Postgres, fast and without loss.

One loop fetches batches (up to ``batch_size`` messages per pull request), decoding each
message as it arrives while the previous batch is being stored, so Python's work overlaps
Postgres's; a second loop stores each batch in one transaction
(:class:`~consortium_metrics.db.writer.BatchWriter`) and only then acknowledges it with a
single ``+ACK`` on its highest stream sequence (the consumer acknowledges with
``AckPolicy.ALL``).

Why acknowledging everything up to a sequence is safe here: batches are committed in the order
they were fetched, and a message this process never received (the connection dropped while it
was on the wire, or it was delivered to a previous process killed before its commit) must never
sit below an acknowledged sequence. So at start-up and after every NATS reconnect the consumer
is reset: its durable is recreated to start just after its acknowledgement floor, which the
server moved only for committed batches. Everything after the floor is delivered again, in
order; what had been committed already is skipped by id (the writer looks every id up in the
batch's transaction). A crash between commit and acknowledgement therefore costs one
redelivered batch, never an event.

Postgres down: the same batch is retried (with a growing pause, logged) until it is stored;
fetching stops while the batches ahead wait. NATS down: nats-py reconnects by itself; the
consumer then resets as above.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from functools import partial

from consortium_core import subjects
from consortium_service.events_stream import ensure_events_stream
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from .batches import BatchBuilder, PreparedBatch
from .db.writer import BatchWriter, WriteResult
from .decoding import Rejection
from .observability import IngestMetrics

__all__ = ["EventConsumer", "ack_position", "reset_consumer"]

log = logging.getLogger(__name__)

_ACK_PREFIX = "$JS.ACK."
_MAX_PAUSE_S = 5.0
_YIELD_EVERY = 16


def ack_position(reply: str) -> tuple[int, int]:
    """``(stream sequence, messages pending after it)`` from a JetStream message's ack subject
    (both layouts: without and with domain and account hash).

    >>> ack_position("$JS.ACK.CONSORTIUM_EVENTS.metrics-events.1.42.40.1700000000000000000.7")
    (42, 7)
    >>> ack_position("$JS.ACK._.ACCHASH.CONSORTIUM_EVENTS.m.1.42.40.1700000000000000000.7.x")
    (42, 7)
    """
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    return int(tokens[7]), int(tokens[10])


async def reset_consumer(
    nc: NatsClient,
    *,
    durable: str,
    batch_size: int,
    prefetch: int,
    ack_wait_s: float,
    replicas: int = 1,
) -> int:
    """(Re)create the durable consumer to start just after its acknowledgement floor.

    Returns the stream sequence it starts at (1 for a new consumer: every stored event).
    """
    js = nc.jetstream()
    await ensure_events_stream(js, replicas)
    start = 1
    try:
        info = await js.consumer_info(subjects.EVENTS_STREAM, durable)
    except NotFoundError:
        pass
    else:
        start = info.ack_floor.stream_seq + 1 if info.ack_floor else 1
        await js.delete_consumer(subjects.EVENTS_STREAM, durable)
    config = ConsumerConfig(
        durable_name=durable,
        description="metrics service: every job event into Postgres",
        filter_subject=subjects.EVENTS_WILDCARD,
        ack_policy=AckPolicy.ALL,
        ack_wait=ack_wait_s,
        max_ack_pending=batch_size * (prefetch + 3),
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start > 1 else DeliverPolicy.ALL,
        opt_start_seq=start if start > 1 else None,
    )
    await js.add_consumer(subjects.EVENTS_STREAM, config)
    return start


@dataclass(slots=True)
class _Fetched:
    prepared: PreparedBatch
    ack_reply: str
    """The acknowledgement subject of the batch's highest stream sequence."""
    pending: int
    """Messages in the stream after the last one fetched (for the pending gauge)."""


class _PullInbox:
    """Pull requests for a durable consumer, and the inbox their messages arrive in.

    Each message is decoded into the current batch by the subscription's callback as it
    arrives (see :mod:`consortium_metrics.batches`); ``PullSubscription.fetch`` would await
    each message with a timeout of its own, which cost more than the rest of ingestion.
    Messages of an earlier request that arrive late go into the next batch.
    """

    def __init__(self, nc: NatsClient, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{subjects.EVENTS_STREAM}.{durable}"
        self._inbox = nc.new_inbox()
        self._builder = BatchBuilder()
        self._top_seq, self._top_reply, self._pending = -1, "", 0
        self._want = 0
        self._done = asyncio.Event()
        self._sub: Subscription | None = None
        self.problem: str | None = None

    async def start(self) -> None:
        if self._sub is None:
            self._sub = await self._nc.subscribe(
                self._inbox, cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
            )

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection closed already
                log.debug("unsubscribing the pull inbox: %s", exc)

    def clear(self) -> None:
        """Forget messages and statuses from earlier requests (they will come again)."""
        self.clear_batch()
        self.problem = None

    async def _on_message(self, msg: Msg) -> None:
        reply = msg.reply
        if reply.startswith(_ACK_PREFIX):
            seq, self._pending = ack_position(reply)
            if seq > self._top_seq:
                self._top_seq, self._top_reply = seq, reply
            builder = self._builder
            try:
                builder.add(msg.subject, msg.data, seq)
            except Exception as exc:  # a bug must not lose the message: keep it as rejected
                log.exception("decoding stream message %d failed", seq)
                builder.batch.rejected.append(
                    Rejection(seq, msg.subject, f"could not be decoded: {exc!r}", msg.data)
                )
            if len(builder) >= self._want:
                self._done.set()
            elif seq % _YIELD_EVERY == 0:
                # nats-py hands a subscription's queued messages over without yielding; let
                # the writer send its next statement, or Postgres idles while we decode.
                await asyncio.sleep(0)
            return
        status = (msg.headers or {}).get("Status", "")
        if status == "100":  # idle heartbeat
            return
        if status not in ("404", "408"):  # 404/408: no more messages for this request
            description = (msg.headers or {}).get("Description", "")
            self.problem = f"{status} {description}".strip() or "unexpected message"
        self._done.set()

    async def fetch(self, batch: int, wait_s: float) -> _Fetched | None:
        """Up to about ``batch`` messages, decoded: as soon as that many came, or after
        ``wait_s``; None when none came."""
        have = len(self._builder)
        if have < batch:
            self._want = batch
            self._done.clear()
            request = {"batch": batch - have, "expires": int(wait_s * 1e9)}
            await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
            try:  # the server answers by `expires`; the margin covers a request lost on the way
                await asyncio.wait_for(self._done.wait(), wait_s + 1.0)
            except TimeoutError:
                pass
        if not len(self._builder):
            return None
        fetched = _Fetched(self._builder.finish(), self._top_reply, self._pending)
        self.clear_batch()
        return fetched

    def clear_batch(self) -> None:
        self._builder = BatchBuilder()
        self._top_seq, self._top_reply = -1, ""


class EventConsumer:
    """Consumes the events stream into Postgres until stopped; see the module's docstring."""

    def __init__(
        self,
        nc: NatsClient,
        writer: BatchWriter,
        *,
        durable: str,
        batch_size: int = 1000,
        fetch_wait_s: float = 0.5,
        prefetch_batches: int = 2,
        ack_wait_s: float = 60.0,
        replicas: int = 1,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._nc = nc
        self._writer = writer
        self._durable = durable
        self._batch_size = batch_size
        self._fetch_wait_s = fetch_wait_s
        self._prefetch = prefetch_batches
        self._ack_wait_s = ack_wait_s
        self._replicas = replicas
        self.metrics = metrics or IngestMetrics()
        self._inbox = _PullInbox(nc, durable)
        self._task: asyncio.Task[None] | None = None
        self._consumer_ok = False
        self._postgres_ok = True
        self.stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.batches = 0
        self.resets = 0

    @property
    def running(self) -> bool:
        """The consumer task runs and its durable consumer exists."""
        return self._task is not None and not self._task.done() and self._consumer_ok

    def problems(self) -> list[str]:
        """Why the consumer is not ready (empty when it is)."""
        found = []
        if not self._nc.is_connected:
            found.append("NATS is not connected")
        if not (self._writer.connected and self._postgres_ok):
            found.append("Postgres is not connected")
        if not self.running:
            found.append("the consumer is not running")
        return found

    async def start(self) -> None:
        """Connect to Postgres and start consuming in a background task."""
        await self._writer.connect()
        await self._inbox.start()
        self._task = asyncio.create_task(self._run(), name="metrics-consumer")

    async def stop(self) -> None:
        """Stop consuming; a batch not yet committed is delivered again to the next run."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._inbox.stop()

    async def _run(self) -> None:
        pause = 0.5
        while True:
            try:
                try:
                    await self._nc.flush(timeout=5)  # acknowledgements of the last run first
                except Exception as exc:  # not connected: resetting fails below and is retried
                    log.debug("flush before reset: %s", exc)
                epoch = self._nc.stats["reconnects"]
                start = await reset_consumer(
                    self._nc,
                    durable=self._durable,
                    batch_size=self._batch_size,
                    prefetch=self._prefetch,
                    ack_wait_s=self._ack_wait_s,
                    replicas=self._replicas,
                )
                self._inbox.clear()
                self._consumer_ok = True
                log.info(
                    "consuming %s from stream sequence %d (durable %s)",
                    subjects.EVENTS_STREAM,
                    start,
                    self._durable,
                )
                await self._consume(epoch)
                pause = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._consumer_ok = False
                self.metrics.error("nats")
                log.warning(
                    "events consumer: %s: %s; starting again in %.1f s",
                    type(exc).__name__,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(_MAX_PAUSE_S, pause * 2)

    def _reconnected_since(self, epoch: int) -> bool:
        return bool(self._nc.stats["reconnects"] != epoch)

    async def _consume(self, epoch: int) -> None:
        """Fetch and store until NATS reconnected (after ``epoch``) or the consumer went away."""
        reconnected = partial(self._reconnected_since, epoch)
        queue: asyncio.Queue[_Fetched | None] = asyncio.Queue(maxsize=self._prefetch)
        storing = asyncio.create_task(self._store_loop(queue), name="metrics-writer")
        try:
            while not reconnected():
                fetched = await self._inbox.fetch(self._batch_size, self._fetch_wait_s)
                if reconnected():
                    break  # these may sit above messages lost on the way: fetched again
                if self._inbox.problem is not None:
                    log.warning("events consumer: pull request answered %s", self._inbox.problem)
                    await asyncio.sleep(0.5)
                    break
                if fetched is None:
                    self.metrics.pending.set(0)
                    continue
                self.metrics.pending.set(fetched.pending)
                await queue.put(fetched)
            if reconnected():
                self.resets += 1
                log.warning("NATS reconnected: resetting the consumer to its acknowledged floor")
            await queue.put(None)
            await storing
        finally:
            if not storing.done():
                storing.cancel()
            await asyncio.wait([storing])  # its outcome was handled above or is moot

    async def _store_loop(self, queue: asyncio.Queue[_Fetched | None]) -> None:
        """Store batches in order until None; never raises (the fetch loop waits on it)."""
        while (fetched := await queue.get()) is not None:
            result = await self._store(fetched.prepared)
            try:
                await self._nc.publish(fetched.ack_reply, b"+ACK")
            except Exception as exc:  # connection closed: redelivered later, skipped by id
                self.metrics.error("nats")
                log.warning("acknowledging a stored batch failed (%s); it will come again", exc)
            self.batches += 1
            self.stored += result.stored
            self.duplicates += result.duplicates
            self.rejected += result.rejected

    async def _store(self, batch: PreparedBatch) -> WriteResult:
        """Store one batch, retrying until Postgres takes it."""
        pause = 0.5
        while True:
            started = time.perf_counter()
            try:
                result = await self._writer.write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._postgres_ok = False
                self.metrics.error("postgres")
                log.warning(
                    "storing a batch of %d events failed (%s: %s); retrying in %.1f s",
                    len(batch.batch),
                    type(exc).__name__,
                    exc,
                    pause,
                )
                await self._writer.close()
                await asyncio.sleep(pause)
                pause = min(_MAX_PAUSE_S, pause * 2)
                continue
            if not self._postgres_ok:
                log.info("Postgres is back: batch stored")
            self._postgres_ok = True
            if result.one_by_one:
                self.metrics.error("refused_batch")
            self.metrics.batch_stored(
                result.stored_by_type,
                duplicates=result.duplicates,
                rejected=result.rejected,
                duration_s=time.perf_counter() - started,
            )
            return result
