"""The coordinator's one NATS connection: heartbeats in, frames out, replies routed to Grids.

Grids run in worker threads (a Flower ServerApp is synchronous); the hub lives on the event loop.
A reply is routed by the job id in its envelope, so the loop never decodes a model.

Core NATS delivers at most once: a frame published while the coordinator or a participant is
reconnecting (NATS restarted, a network cut) may be lost. The hub therefore tells the Grids when
a participant is back within reach: its first heartbeat after a gap longer than
:data:`REJOIN_GAP_S`, or after the coordinator's own reconnection. A Grid then sends that
participant its unanswered messages again (the participant answers a message it has already
handled from its cache, without running it twice).

Silence heard while the coordinator's own connection is down is not the participants': the
sweeper marks nobody offline then, and after a reconnection every participant has the whole
presence timeout to be heard again (else a NATS restart of a few seconds could take a round's
participants away and fail the job).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from consortium_client.transport import publish_frame, subscribe_frames
from consortium_core import subjects
from consortium_core.errors import WireFormatError
from consortium_core.presence import Presence, parse_heartbeat
from consortium_core.wire import peek_envelope
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

__all__ = ["FrameSink", "NatsHub"]

log = logging.getLogger(__name__)


class FrameSink(Protocol):
    """What the hub needs from a Grid: somewhere to drop replies and presence changes."""

    def deliver(self, participant_id: str, frame: Sequence[memoryview] | bytes | bytearray) -> None:
        """A reply frame from ``participant_id`` arrived."""

    def participant_offline(self, participant_id: str) -> None:
        """``participant_id`` stopped sending heartbeats."""

    def participant_back(self, participant_id: str) -> None:
        """``participant_id`` is within reach again after frames to or from it may have been
        lost (a reconnection on either side)."""


REJOIN_GAP_S = 2.5
"""A heartbeat after a silence this long (participants beat every second) means the participant
may have missed frames: it was away, or NATS was."""


class NatsHub:
    """Owns subscriptions for replies and heartbeats and publishes frames for Grids."""

    def __init__(self, nc: NatsClient, presence: Presence, *, sweep_s: float = 0.5) -> None:
        self.nc = nc
        self.presence = presence
        self._sweep_s = sweep_s
        self._sinks: dict[str, FrameSink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._last_beat: dict[str, float] = {}
        self._reconnects = 0
        self._reconnected_at = 0.0

    async def start(self) -> None:
        """Subscribe and start the presence sweeper."""
        self.loop = asyncio.get_running_loop()
        await self.nc.subscribe(subjects.ALL_HEARTBEATS, cb=self._on_heartbeat)
        await subscribe_frames(self.nc, subjects.ALL_REPLIES, self._on_reply)
        await self.nc.flush()
        self._tasks.append(asyncio.create_task(self._sweep()))

    async def close(self) -> None:
        """Stop the sweeper (the caller closes the NATS connection)."""
        for task in self._tasks:
            task.cancel()

    def register(self, job_id: str, sink: FrameSink) -> None:
        """Route replies for ``job_id`` to ``sink``."""
        self._sinks[job_id] = sink

    def unregister(self, job_id: str) -> None:
        """Stop routing replies for ``job_id``."""
        self._sinks.pop(job_id, None)

    async def send(self, participant_id: str, buffers: Sequence[bytes]) -> int:
        """Publish a frame to a participant's inbox; return bytes sent."""
        return await publish_frame(self.nc, subjects.inbox(participant_id), buffers)

    def send_from_thread(self, participant_id: str, buffers: Sequence[bytes]) -> int:
        """:meth:`send` for callers on a worker thread (blocks until published)."""
        assert self.loop is not None, "hub not started"
        future = asyncio.run_coroutine_threadsafe(self.send(participant_id, buffers), self.loop)
        return future.result()

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = parse_heartbeat(msg.subject, msg.data)
        except ValueError as exc:
            log.warning("ignored a heartbeat on %s: %s", msg.subject, exc)
            return
        sender = beat.participant_id
        if self.presence.observe(beat):
            log.info("participant %s is %s", sender, "online" if beat.online else "offline")
            if not beat.online:
                self._notify_offline(sender)
        if beat.online:
            self._note_heartbeat(sender)

    def _reconnected(self, now: float) -> bool:
        """Whether the connection came back since the last look (and note when)."""
        reconnects = int(self.nc.stats.get("reconnects", 0))
        if reconnects == self._reconnects:
            return False
        self._reconnects, self._reconnected_at = reconnects, now
        return True

    def _note_heartbeat(self, participant_id: str) -> None:
        now = time.monotonic()
        if self._reconnected(now):
            self.presence.excuse_silence(now=now)
        last = self._last_beat.get(participant_id)
        self._last_beat[participant_id] = now
        if last is not None and (now - last > REJOIN_GAP_S or last < self._reconnected_at):
            log.info("participant %s is back within reach", participant_id)
            for sink in list(self._sinks.values()):
                sink.participant_back(participant_id)

    async def _on_reply(
        self, subject: str, frame: Sequence[memoryview] | bytes | bytearray
    ) -> None:
        try:
            sender = subjects.participant_from_subject(subject)
            job_id = str(peek_envelope(frame).get("job_id", ""))
        except (WireFormatError, ValueError) as exc:
            log.warning("dropped a malformed reply on %s: %s", subject, exc)
            return
        sink = self._sinks.get(job_id)
        if sink is None:
            log.info("dropped a reply from %s for job %s, which is not running", sender, job_id)
            return
        sink.deliver(sender, frame)

    def _notify_offline(self, participant_id: str) -> None:
        for sink in list(self._sinks.values()):
            sink.participant_offline(participant_id)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """Mark participants silent for longer than the presence timeout offline, counting no
        silence while the coordinator's own connection was down."""
        if not self.nc.is_connected or self._reconnected(now):
            self.presence.excuse_silence(now=now)
            return
        for pid in self.presence.expire(now=now):
            log.warning(
                "participant %s is offline: no heartbeat for %.0f s", pid, self.presence.timeout_s
            )
            self._notify_offline(pid)
