"""The registry's domain metrics from counts and presence (the Postgres side is covered by
tests/integration/test_registry_mtls.py and test_identity_end_to_end.py)."""

from __future__ import annotations

import time

from consortium_core.contracts.presence import Heartbeat
from consortium_core.presence import Presence
from consortium_registry.observability import RegistryCounts, RegistryMetrics


def _counts(**changes: object) -> RegistryCounts:
    values: dict[str, object] = {
        "active": 2,
        "revoked": 0,
        "enrolled": ("h1", "h2"),
        "certificates": {"enrollment": 2},
        "audit_records": 7,
        "last_seen": {},
    }
    return RegistryCounts(**{**values, **changes})  # type: ignore[arg-type]


def _beat(participant: str, *, online: bool = True) -> Heartbeat:
    return Heartbeat(participant_id=participant, node_id=1, tasks=[], sent_at=0.0, online=online)


def _names(metrics: RegistryMetrics) -> set[str]:
    return {s.name for family in metrics.registry.collect() for s in family.samples}


def test_nothing_is_shown_before_the_first_count() -> None:
    assert _names(RegistryMetrics()) == set()


def test_without_presence_there_is_no_online_series() -> None:
    metrics = RegistryMetrics()
    metrics.counts = _counts()
    assert _names(metrics) == {
        "consortium_participants",
        "consortium_certificates_issued_total",
        "consortium_audit_records_appended_total",
    }
    sample = metrics.registry.get_sample_value
    assert sample("consortium_certificates_issued_total", {"via": "renewal"}) == 0


def test_online_follows_heartbeats_and_their_timeout() -> None:
    presence = Presence(timeout_s=5)
    now = time.monotonic()
    presence.observe(_beat("h1"), now=now)
    presence.observe(_beat("h2"), now=now - 60)  # silent for a minute, not expired yet
    presence.observe(_beat("gone", online=False), now=now)  # revoked or pending: not shown
    metrics = RegistryMetrics()
    metrics.watch_presence(presence)
    metrics.counts = _counts(enrolled=("h1", "h2", "h3"), last_seen={"h3": 1_700_000_000.0})
    sample = metrics.registry.get_sample_value

    def online(p: str) -> float | None:
        return sample("consortium_participant_online", {"participant": p})

    def last_seen(p: str) -> float | None:
        return sample("consortium_participant_last_seen_timestamp_seconds", {"participant": p})

    assert (online("h1"), online("h2"), online("h3"), online("gone")) == (1, 0, 0, None)
    assert abs(last_seen("h1") - time.time()) < 2  # type: ignore[operator]
    assert abs(last_seen("h2") - (time.time() - 60)) < 2  # type: ignore[operator]
    assert last_seen("h3") == 1_700_000_000.0  # not seen since start: from Postgres
    assert last_seen("gone") is None
