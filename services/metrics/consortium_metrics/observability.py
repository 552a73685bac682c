"""The metrics service's own Prometheus metrics, served at ``/metrics`` with its HTTP metrics.

- ``consortium_metrics_events_ingested_total`` (by event type): events stored for the first
  time;
- ``consortium_metrics_duplicates_skipped_total``: events whose id was stored already
  (redeliveries, republished events);
- ``consortium_metrics_events_rejected_total``: messages kept in ``metrics_rejected_events``;
- ``consortium_metrics_batch_ingest_duration_seconds`` (histogram): one batch's transaction;
- ``consortium_metrics_consumer_pending``: events in the stream not yet delivered to the
  consumer, as of the last fetch;
- ``consortium_metrics_errors_total`` (by kind: ``postgres``, ``nats``, ``refused_batch``).

>>> from collections import Counter
>>> metrics = IngestMetrics()
>>> metrics.batch_stored(Counter({"round_completed": 3}), duplicates=1, rejected=0,
...                      duration_s=0.01)
>>> metrics.registry.get_sample_value(
...     "consortium_metrics_events_ingested_total", {"type": "round_completed"})
3.0
>>> metrics.error("postgres")
>>> metrics.registry.get_sample_value("consortium_metrics_errors_total", {"kind": "postgres"})
1.0
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["BATCH_BUCKETS", "IngestMetrics"]

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IngestMetrics:
    """Every metric of one metrics service, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter(
            "consortium_metrics_events_ingested",
            "Events stored for the first time, by type",
            ["type"],
            registry=r,
        )
        self.duplicates = Counter(
            "consortium_metrics_duplicates_skipped",
            "Events skipped because their id was stored already",
            registry=r,
        )
        self.rejected = Counter(
            "consortium_metrics_events_rejected",
            "Messages that are not storable events, kept with the reason",
            registry=r,
        )
        self.batch_duration = Histogram(
            "consortium_metrics_batch_ingest_duration_seconds",
            "Time to store one batch of events in Postgres (one transaction)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "consortium_metrics_consumer_pending",
            "Events in the stream not yet delivered to the consumer, as of the last fetch",
            registry=r,
        )
        self.errors = Counter(
            "consortium_metrics_errors", "Errors of the consumer, by kind", ["kind"], registry=r
        )

    def batch_stored(
        self,
        stored_by_type: Mapping[str, int],
        *,
        duplicates: int,
        rejected: int,
        duration_s: float,
    ) -> None:
        """Count one stored batch."""
        for event_type, count in stored_by_type.items():
            self.ingested.labels(event_type).inc(count)
        if duplicates:
            self.duplicates.inc(duplicates)
        if rejected:
            self.rejected.inc(rejected)
        self.batch_duration.observe(duration_s)

    def error(self, kind: str) -> None:
        """Count one error of ``kind``."""
        self.errors.labels(kind).inc()
