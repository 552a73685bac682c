"""Reading back what a job left: its events and audit records in JetStream, what the metrics
service and the registry stored in Postgres, and the coordinator's and contribution service's
answers. The chaos soak checks these against each other (:mod:`.checks`)."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
from consortium_core import subjects
from consortium_core.contracts.audit import AUDIT_WILDCARD

__all__ = ["Evidence", "gather_stream_and_tables"]


@dataclass
class Evidence:
    """What the soak read back about one job."""

    event_ids: list[str] = field(default_factory=list)
    """Ids of the job's events in the events stream, in stream order (one per stored copy)."""
    metrics_event_ids: list[str] = field(default_factory=list)
    audit_records: list[str] = field(default_factory=list)
    """Ids of the job's audit records in the audit stream."""
    chained_records: list[str] = field(default_factory=list)
    """Record ids of the job's entries in the registry's audit chain."""
    exchanges: list[tuple[int, str, str]] = field(default_factory=list)
    """(round, participant, direction) of each chained parameter exchange of the job."""


def _tls(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return context


async def _read_all(nc: nats.NATS, subject: str) -> list[bytes]:
    """Every stored message on ``subject`` (an ordered consumer from the start)."""
    sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
    found: list[bytes] = []
    try:
        while True:
            found.append((await sub.next_msg(timeout=3)).data)
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def gather_stream_and_tables(
    job_id: str,
    *,
    nats_url: str,
    tls: tuple[Path, Path, Path],
    postgres_dsn: str,
) -> Evidence:
    """The job's events and audit records from JetStream (``tls``: CA, certificate, key of a
    service identity) and what the metrics service and the registry stored in Postgres."""
    found = Evidence()
    nc = await nats.connect(nats_url, tls=_tls(*tls), allow_reconnect=False)
    try:
        for data in await _read_all(nc, subjects.job_event(job_id, "*")):
            found.event_ids.append(str(json.loads(data)["id"]))
        for data in await _read_all(nc, AUDIT_WILDCARD):
            record = json.loads(data)
            if (record.get("data") or {}).get("job_id") == job_id:
                found.audit_records.append(str(record.get("id")))
    finally:
        await nc.close()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = await conn.fetch("SELECT event_id FROM metrics_events WHERE job_id = $1", job_id)
        found.metrics_event_ids = [r["event_id"] for r in rows]
        rows = await conn.fetch(
            "SELECT record_id, kind, data FROM audit_log WHERE data->>'job_id' = $1 ORDER BY seq",
            job_id,
        )
    finally:
        await conn.close()
    for row in rows:
        data: dict[str, Any] = json.loads(row["data"])
        if row["record_id"] is not None:
            found.chained_records.append(row["record_id"])
        if row["kind"] == "parameter_exchange":
            found.exchanges.append(
                (int(data["round"]), str(data["participant_id"]), str(data["direction"]))
            )
    return found
