"""The append-only, hash-chained audit log in Postgres: append, read, verify, export.

Appends are serialized with a transaction-scoped advisory lock, so two concurrent appends can
never both chain onto the same previous entry: the lock is taken, the last entry read, the new
entry's ``seq`` (last + 1) and hash computed, the row inserted, and the lock released when the
caller's transaction ends. The entry therefore commits (or rolls back) together with the change
it records. A Postgres trigger refuses UPDATE, DELETE and TRUNCATE on the table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from consortium_core.audit import (
    GENESIS,
    AuditEntry,
    VerificationResult,
    canonical_json,
    entry_hash,
    verify_chain,
)
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db.models import AuditLogRow

__all__ = [
    "AUDIT_LOCK_KEY",
    "append_audit",
    "export_audit_lines",
    "list_audit",
    "to_entry",
    "verify_audit_log",
]

AUDIT_LOCK_KEY = 0x636F6E736F7274  # "consort": the advisory lock that serializes appends
BATCH = 5000


def to_entry(row: AuditLogRow) -> AuditEntry:
    """The core library's view of a stored row."""
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        actor=row.actor,
        data=row.data,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


async def append_audit(
    session: AsyncSession,
    kind: str,
    actor: str,
    data: Any,
    *,
    now: datetime | None = None,
    record_id: str | None = None,
) -> AuditLogRow | None:
    """Add an entry in the session's transaction (the caller commits). ``data``: plain JSON.

    ``record_id`` names a published audit record: if the chain already holds it, nothing is
    added and None is returned (a record delivered twice is chained once).
    """
    canonical_json(data)  # refuse what cannot be hashed (NaN, objects) before taking the lock
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    if record_id is not None:
        chained = select(AuditLogRow.seq).where(AuditLogRow.record_id == record_id)
        if (await session.execute(chained)).first() is not None:
            return None
    last = (
        await session.execute(
            select(AuditLogRow.seq, AuditLogRow.hash).order_by(AuditLogRow.seq.desc()).limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    digest = entry_hash(prev_hash=prev_hash, seq=seq, at=at, kind=kind, actor=actor, data=data)
    row = AuditLogRow(
        seq=seq,
        at=at,
        kind=kind,
        actor=actor,
        data=data,
        prev_hash=prev_hash,
        hash=digest,
        record_id=record_id,
    )
    session.add(row)
    await session.flush()
    return row


async def list_audit(
    session: AsyncSession, *, after_seq: int = 0, limit: int = 100, job_id: str | None = None
) -> list[AuditLogRow]:
    """Entries with ``seq > after_seq``, oldest first (keyset pagination); with ``job_id``,
    only the entries about that job (``data.job_id``, indexed)."""
    query = select(AuditLogRow).where(AuditLogRow.seq > after_seq)
    if job_id is not None:
        query = query.where(AuditLogRow.data["job_id"].as_string() == job_id)
    query = query.order_by(AuditLogRow.seq).limit(limit)
    return list((await session.scalars(query)).all())


async def verify_audit_log(session: AsyncSession, *, batch: int = BATCH) -> VerificationResult:
    """Recompute the whole chain in batches; names the first entry that does not fit."""
    prev_hash, first_seq, after, checked = GENESIS, 1, 0, 0
    while rows := await list_audit(session, after_seq=after, limit=batch):
        result = verify_chain(map(to_entry, rows), prev_hash=prev_hash, first_seq=first_seq)
        checked += result.checked
        if not result.ok:
            return VerificationResult(False, checked, result.first_broken_seq, result.reason)
        prev_hash, first_seq, after = rows[-1].hash, rows[-1].seq + 1, rows[-1].seq
        session.expunge_all()  # keep memory flat on long logs
    return VerificationResult(True, checked)


async def export_audit_lines(
    sessions: async_sessionmaker[AsyncSession], *, batch: int = BATCH
) -> AsyncIterator[str]:
    """The whole log as JSON lines (canonical JSON, one entry per line), oldest first."""
    after = 0
    async with sessions() as session:
        while rows := await list_audit(session, after_seq=after, limit=batch):
            yield "".join(canonical_json(to_entry(r).to_mapping()) + "\n" for r in rows)
            after = rows[-1].seq
            session.expunge_all()
