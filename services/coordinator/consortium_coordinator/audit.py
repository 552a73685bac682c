"""Publishing audit records (parameter exchanges, job actions) to the ``CONSORTIUM_AUDIT`` stream.

Digests of large frames are computed on a worker thread (hashlib releases the GIL), off the
path of the round; records keep their order because one worker publishes them one by one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from consortium_core.contracts.audit import (
    AuditRecord,
    Direction,
    audit_subject,
)
from consortium_service.durable_publish import GIVE_UP_AFTER_S, publish_until_stored
from consortium_service.jetstream import audit_stream_config, ensure_stream
from nats.aio.client import Client as NatsClient

__all__ = ["AuditPublisher", "frame_digest"]

log = logging.getLogger(__name__)
ACTOR = "service:coordinator"


def frame_digest(frame: Sequence[bytes | bytearray | memoryview]) -> str:
    """SHA-256 of a frame given as its buffers or chunk payloads, in order."""
    digest = hashlib.sha256()
    for piece in frame:
        digest.update(piece)
    return digest.hexdigest()


class AuditPublisher:
    """Durable, ordered publication of audit records; a record still not stored after the
    retries is logged, never fatal."""

    def __init__(self, nc: NatsClient, loop: asyncio.AbstractEventLoop) -> None:
        self._js = nc.jetstream()
        self._loop = loop
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")

    async def ensure_stream(self, replicas: int = 1) -> None:
        """Create the audit stream if missing (file storage, kept until consumed into the log)."""
        await ensure_stream(self._js, audit_stream_config(replicas))

    async def publish(self, record: AuditRecord) -> None:
        """Publish one record, retrying while NATS is away (the record's id is its message id,
        so a retry stores it once); one still not stored is logged with its contents."""
        await publish_until_stored(
            self._js,
            audit_subject(record.kind),
            record.model_dump_json().encode(),
            msg_id=record.id,
            what=f"audit record {record.kind} {record.data}",
        )

    def exchange(
        self,
        *,
        job_id: str,
        server_round: int,
        participant_id: str,
        direction: Direction,
        message_type: str,
        message_id: str,
        frame: Sequence[bytes | bytearray | memoryview],
    ) -> None:
        """Record one parameter exchange (callable from any thread; returns at once)."""
        self._worker.submit(
            self._digest_and_publish,
            {
                "job_id": job_id,
                "round": server_round,
                "participant_id": participant_id,
                "direction": direction,
                "message_type": message_type,
                "message_id": message_id,
            },
            list(frame),
        )

    def _digest_and_publish(self, data: dict[str, Any], frame: list[bytes]) -> None:
        data = {**data, "digest": frame_digest(frame), "bytes": sum(len(p) for p in frame)}
        record = AuditRecord(kind="parameter_exchange", actor=ACTOR, data=data)
        future = asyncio.run_coroutine_threadsafe(self.publish(record), self._loop)
        try:
            future.result(timeout=GIVE_UP_AFTER_S + 15)
        except Exception as exc:  # loop closing at shutdown
            log.warning("audit record not published: %s", exc)

    def close(self) -> None:
        """Finish pending records (at shutdown)."""
        self._worker.shutdown(wait=True)
