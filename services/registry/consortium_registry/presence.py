"""Presence as operators see it: heartbeats in, ``last_seen_at`` kept in Postgres.

Participants' client runtimes publish a heartbeat every second on their own heartbeat subject;
the registry keeps the live view in memory (:class:`consortium_core.presence.Presence`) and
writes each participant's last-seen time to the database every few seconds, not on every beat.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from consortium_core import subjects
from consortium_core.presence import Presence, parse_heartbeat
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db.models import Participant

__all__ = ["PresenceRecorder"]

log = logging.getLogger(__name__)


class PresenceRecorder:
    """Subscribes to every participant's heartbeats and records when each was last seen."""

    def __init__(
        self,
        nc: NatsClient,
        sessions: async_sessionmaker[AsyncSession],
        *,
        timeout_s: float = 5.0,
        flush_s: float = 5.0,
    ) -> None:
        self.nc = nc
        self.presence = Presence(timeout_s=timeout_s)
        self._sessions = sessions
        self._flush_s = flush_s
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and start writing last-seen times."""
        await self.nc.subscribe(subjects.ALL_HEARTBEATS, cb=self._on_heartbeat)
        self._task = asyncio.create_task(self._flush_forever(), name="presence-flush")

    async def stop(self) -> None:
        """Write what is pending and stop."""
        if self._task is not None:
            self._task.cancel()
        await self.flush()

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = parse_heartbeat(msg.subject, msg.data)
        except ValueError as exc:
            log.warning("ignored a heartbeat on %s: %s", msg.subject, exc)
            return
        sender = beat.participant_id
        if self.presence.observe(beat):
            log.info("participant %s is %s", sender, "online" if beat.online else "offline")
        self._seen[sender] = datetime.now(UTC)

    async def flush(self) -> None:
        """Write the last-seen times gathered since the previous flush."""
        seen, self._seen = self._seen, {}
        if not seen:
            return
        async with self._sessions() as session:
            for participant_id, at in seen.items():
                await session.execute(
                    update(Participant)
                    .where(Participant.id == participant_id)
                    .values(last_seen_at=at)
                )
            await session.commit()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            self.presence.expire()
            try:
                await self.flush()
            except Exception as exc:  # Postgres away: keep the live view, log, try again
                log.warning("presence not written: %s", exc)
