"""Chaining audit records that other services publish: one durable JetStream consumer.

Services (the coordinator) publish :class:`AuditRecord`s to the ``CONSORTIUM_AUDIT`` stream; the
registry appends each to its hash-chained log and only then acknowledges it, so a record is
neither lost when the registry restarts nor chained twice in the normal case (a crash between
commit and ack re-delivers the record, and the chain, which keeps each record's id, skips it).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime

from consortium_core.contracts.audit import AUDIT_STREAM, AUDIT_WILDCARD, AuditRecord
from consortium_service.jetstream import audit_stream_config, ensure_stream
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .audit_log import append_audit
from .settings import RegistrySettings

__all__ = ["AuditConsumer", "nats_tls_context"]

log = logging.getLogger(__name__)
DURABLE = "registry-audit"


def nats_tls_context(settings: RegistrySettings) -> ssl.SSLContext | None:
    """Client TLS for the registry's own NATS connection (None for a plain nats:// URL)."""
    nats = settings.nats
    if not nats.url or not nats.url.startswith("tls://"):
        return None
    context = ssl.create_default_context(cafile=str(settings.pki_dir / "ca.crt"))
    if nats.cert_file and nats.key_file:
        context.load_cert_chain(str(nats.cert_file), str(nats.key_file))
    return context


class AuditConsumer:
    """Pulls audit records in order and appends them to the chain."""

    def __init__(
        self, nc: NatsClient, sessions: async_sessionmaker[AsyncSession], *, replicas: int = 1
    ) -> None:
        self._js = nc.jetstream()
        self._replicas = replicas
        self._sessions = sessions
        self._task: asyncio.Task[None] | None = None
        self.appended = 0
        self.duplicates = 0

    async def start(self) -> None:
        """Make sure the stream exists and start consuming."""
        await ensure_stream(self._js, audit_stream_config(self._replicas))
        self._sub = await self._js.pull_subscribe(
            AUDIT_WILDCARD,
            durable=DURABLE,
            stream=AUDIT_STREAM,
            config=ConsumerConfig(max_ack_pending=1000),
        )
        self._task = asyncio.create_task(self._run(), name="audit-consumer")

    async def stop(self) -> None:
        """Stop consuming (pending records stay in the stream)."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                messages = await self._sub.fetch(100, timeout=1)
            except NatsTimeout:
                continue
            except Exception as exc:  # NATS away: nats-py reconnects; try again shortly
                log.warning("audit consumer: %s; retrying", exc)
                await asyncio.sleep(1)
                continue
            for msg in messages:
                await self._append_when_possible(msg)

    async def _append_when_possible(self, msg: object) -> None:
        """Append ``msg``, retrying while Postgres is away: records keep their order, and one
        redelivered meanwhile is skipped by its id."""
        pause = 0.5
        while True:
            try:
                await self._append(msg)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres restarting or unreachable
                log.warning("audit consumer: cannot chain a record yet (%s); retrying", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _append(self, msg: object) -> None:
        try:
            record = AuditRecord.model_validate_json(msg.data)  # type: ignore[attr-defined]
        except ValidationError as exc:
            log.warning("audit consumer: dropped a malformed record: %s", exc)
            await msg.term()  # type: ignore[attr-defined]
            return
        at = datetime.fromtimestamp(record.at, UTC)
        async with self._sessions() as session:
            row = await append_audit(
                session, record.kind, record.actor, record.data, now=at, record_id=record.id
            )
            await session.commit()
        await msg.ack()  # type: ignore[attr-defined]
        if row is None:
            log.info("audit record %s was chained before; delivered again, skipped", record.id)
            self.duplicates += 1
        else:
            self.appended += 1
