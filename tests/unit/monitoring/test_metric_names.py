"""Every metric the alert rules and the dashboard read is one the services expose: the names
come from the coordinator's and the registry's metrics objects built here, so renaming a metric
without updating deploy/monitoring fails this test."""

from __future__ import annotations

import pytest
from consortium_coordinator.observability import CoordinatorMetrics
from consortium_core.presence import Presence
from consortium_registry.observability import RegistryCounts, RegistryMetrics
from consortium_service.http_metrics import install_metrics
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from support.monitoring import dashboard_exprs, metric_names, rule_exprs

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exposed(registry: CollectorRegistry) -> set[str]:
    """Names of the samples ``registry`` exposes, also for families with no samples yet."""
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    coordinator = CoordinatorMetrics()
    install_metrics(FastAPI(), service="coordinator", registry=coordinator.registry)
    registry = RegistryMetrics()
    registry.watch_presence(Presence(timeout_s=5))
    registry.counts = RegistryCounts(
        active=1, revoked=0, enrolled=("h1",), certificates={}, audit_records=0, last_seen={}
    )
    install_metrics(FastAPI(), service="registry", registry=registry.registry)
    return _exposed(coordinator.registry) | _exposed(registry.registry)


def test_the_services_expose_what_the_alerts_need(exposed: set[str]) -> None:
    assert {
        "consortium_participant_online",
        "consortium_job_last_round_timestamp_seconds",
        "consortium_privacy_epsilon_spent",
        "consortium_privacy_epsilon_budget",
        "consortium_jobs_finished_total",
        "consortium_http_requests_total",
    } <= exposed


@pytest.mark.parametrize("alert", sorted(rule_exprs()))
def test_every_metric_an_alert_reads_is_exposed(alert: str, exposed: set[str]) -> None:
    expr = rule_exprs()[alert]
    assert metric_names(expr) - exposed == set(), expr


def test_every_metric_the_dashboard_reads_is_exposed(exposed: set[str]) -> None:
    used = set().union(*map(metric_names, dashboard_exprs()))
    assert len(used) > 15
    assert used - exposed == set()


def test_a_misspelt_name_would_be_caught(exposed: set[str]) -> None:
    assert metric_names("rate(consortium_round_seconds_bucket[5m])") - exposed
