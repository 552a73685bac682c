"""The registry's domain metrics, served at ``/metrics`` next to its HTTP metrics.

- ``consortium_participants`` (by state: ``enrolled``, active with a current certificate;
  ``pending``, active without one: not enrolled yet, or its certificates expired; ``revoked``);
- ``consortium_participant_online`` (by participant, for enrolled participants: 1 while its
  heartbeats arrive, else 0) and ``consortium_participant_last_seen_timestamp_seconds`` (its
  last heartbeat, Unix time); both only when the registry listens to heartbeats (NATS set);
- ``consortium_certificates_issued_total`` (by ``via``: enrollment, renewal);
- ``consortium_audit_records_appended_total`` (entries in the hash-chained audit log).

Counts are read from Postgres every few seconds (:meth:`RegistryMetrics.refresh`), not counted in
memory: they survive restarts and agree between replicas. Presence is read at each scrape.

>>> from consortium_core.contracts.presence import Heartbeat
>>> presence = Presence(timeout_s=5)
>>> _ = presence.observe(Heartbeat(participant_id="h1", node_id=1, tasks=[], sent_at=0.0))
>>> metrics = RegistryMetrics()
>>> metrics.watch_presence(presence)
>>> metrics.counts = RegistryCounts(
...     active=3, revoked=1, enrolled=("h1", "h2"), certificates={"enrollment": 3, "renewal": 5},
...     audit_records=42, last_seen={})
>>> sample = metrics.registry.get_sample_value
>>> [sample("consortium_participants", {"state": s}) for s in ("enrolled", "pending", "revoked")]
[2.0, 1.0, 1.0]
>>> sample("consortium_participant_online", {"participant": "h1"})
1.0
>>> sample("consortium_participant_online", {"participant": "h2"})
0.0
>>> sample("consortium_certificates_issued_total", {"via": "renewal"})
5.0
>>> sample("consortium_audit_records_appended_total")
42.0
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from consortium_core.presence import Presence
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db.models import AuditLogRow, Certificate, Participant, ParticipantStatus
from .participants import active_participant_ids

__all__ = ["RegistryCounts", "RegistryMetrics", "read_counts"]

log = logging.getLogger(__name__)

ISSUED_VIA = ("enrollment", "renewal")


@dataclass(frozen=True)
class RegistryCounts:
    """What the registry's database holds, as the metrics show it."""

    active: int
    revoked: int
    enrolled: tuple[str, ...]
    certificates: Mapping[str, int]
    audit_records: int
    last_seen: Mapping[str, float]  # participant -> Unix time, as written to Postgres


async def read_counts(session: AsyncSession) -> RegistryCounts:
    """Count participants, certificates and audit entries (a few indexed queries)."""
    status, via = Participant.status, Certificate.issued_via
    by_status = dict((await session.execute(select(status, func.count()).group_by(status))).all())
    certificates = dict((await session.execute(select(via, func.count()).group_by(via))).all())
    seen = await session.execute(
        select(Participant.id, Participant.last_seen_at).where(
            Participant.status == ParticipantStatus.ACTIVE, Participant.last_seen_at.is_not(None)
        )
    )
    audit_records = await session.scalar(select(func.max(AuditLogRow.seq)))
    return RegistryCounts(
        active=by_status.get(ParticipantStatus.ACTIVE, 0),
        revoked=by_status.get(ParticipantStatus.REVOKED, 0),
        enrolled=tuple(await active_participant_ids(session)),
        certificates=certificates,
        audit_records=audit_records or 0,
        last_seen={pid: at.timestamp() for pid, at in seen.all() if isinstance(at, datetime)},
    )


class RegistryMetrics(Collector):
    """The registry's metrics registry: HTTP metrics go into ``registry`` too."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counts: RegistryCounts | None = None
        self._presence: Presence | None = None
        self.registry.register(self)

    def watch_presence(self, presence: Presence) -> None:
        """Read participants' presence from ``presence`` at each scrape."""
        self._presence = presence

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Read the counts again from Postgres."""
        async with sessions() as session:
            self.counts = await read_counts(session)

    async def refresh_forever(
        self, sessions: async_sessionmaker[AsyncSession], *, interval_s: float
    ) -> None:
        """Refresh every ``interval_s``; with Postgres away, keep the last counts and retry."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh(sessions)
            except Exception as exc:
                log.warning("registry metrics not refreshed: %s", exc)

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        if counts is None:
            return
        states = GaugeMetricFamily(
            "consortium_participants", "Participants, by state", labels=["state"]
        )
        states.add_metric(["enrolled"], float(len(counts.enrolled)))
        states.add_metric(["pending"], float(counts.active - len(counts.enrolled)))
        states.add_metric(["revoked"], float(counts.revoked))
        yield states
        issued = CounterMetricFamily(
            "consortium_certificates_issued",
            "Participant certificates the CA issued, by enrollment or renewal",
            labels=["via"],
        )
        for via in sorted({*ISSUED_VIA, *counts.certificates}):
            issued.add_metric([via], float(counts.certificates.get(via, 0)))
        yield issued
        yield CounterMetricFamily(
            "consortium_audit_records_appended",
            "Entries appended to the hash-chained audit log",
            value=float(counts.audit_records),
        )
        if self._presence is not None:
            yield from self._presence_metrics(counts, self._presence)

    @staticmethod
    def _presence_metrics(counts: RegistryCounts, presence: Presence) -> Iterator[Metric]:
        online = GaugeMetricFamily(
            "consortium_participant_online",
            "1 while an enrolled participant's heartbeats arrive, else 0",
            labels=["participant"],
        )
        last_seen = GaugeMetricFamily(
            "consortium_participant_last_seen_timestamp_seconds",
            "When an enrolled participant's last heartbeat arrived (Unix time)",
            labels=["participant"],
        )
        now = time.monotonic()
        wall_minus_monotonic = time.time() - now
        entries = {e.participant_id: e for e in presence.all()}
        for participant in counts.enrolled:
            entry = entries.get(participant)
            live = (
                entry is not None and entry.online and now - entry.last_seen <= presence.timeout_s
            )
            online.add_metric([participant], 1.0 if live else 0.0)
            if entry is not None:
                last_seen.add_metric([participant], entry.last_seen + wall_minus_monotonic)
            elif participant in counts.last_seen:
                last_seen.add_metric([participant], counts.last_seen[participant])
        yield online
        yield last_seen
