"""A real Prometheus scrapes the real services: the coordinator and the metrics service (HTTP),
the registry and the gateway (HTTPS, the platform CA), with the alert rules of
deploy/monitoring loaded.

Prometheus sees every target up and stores their series; every query of the dashboard and the
rules is PromQL it accepts; when a service stops, ``ServiceDown`` goes pending for it. More
services are one ``Target`` each in ``_targets``.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.gateway import Gateway
from support.metrics import MetricsService
from support.monitoring import GRAFANA_MACROS, RULES, dashboard_exprs, rule_exprs
from support.processes import Coordinator, running
from support.prometheus import Target, prometheus_binary, running_prometheus
from support.registry import Registry, running_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="prometheus is not installed: Debian package 'prometheus' (`make install` adds "
        "it where apt-get can run as root)",
    ),
]


def _targets(
    coordinator: Coordinator, registry: Registry, metrics: MetricsService, gateway: Gateway
) -> list[Target]:
    return [
        Target("coordinator", "http", coordinator.port),
        Target("registry", "https", registry.port, registry.ca_cert),
        Target("metrics", "http", metrics.port),
        Target("gateway", "https", gateway.port, registry.ca_cert),
    ]


def _grafana_to_promql(expr: str) -> str:
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    return expr


def test_prometheus_scrapes_the_services_and_evaluates_the_rules(
    tmp_path: Path, database_url: str, postgres_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    metrics = MetricsService(
        tmp_path / "metrics.log", database_url=database_url, nats_url=nats_server.url
    )
    with (
        running(coordinator, metrics),
        running_registry(postgres_url, tmp_path, metrics_refresh_s="1") as registry,
    ):
        coordinator.wait_healthy()
        metrics.wait_ready()
        gateway = Gateway(
            tmp_path,
            registry=registry,
            coordinator_url=coordinator.url,
            database_url=database_url,
            nats_url=nats_server.url,
        )
        targets = _targets(coordinator, registry, metrics, gateway)
        with ExitStack() as stack:
            stack.enter_context(running(gateway))
            gateway.wait_healthy()  # before the first scrape: a failed one would fire ServiceDown
            prom = stack.enter_context(
                running_prometheus(tmp_path / "prometheus", targets, rule_files=[RULES])
            )
            prom.wait_targets({t.job: "up" for t in targets})

            # a real series from each service, with the labels Prometheus adds
            # (each service answered a health or readiness probe before being scraped)
            jobs = {t.job for t in targets}
            probes = 'consortium_http_requests_total{route=~"/api/v1/(health|ready)", status="200"}'
            health: list[dict] = []
            deadline = time.monotonic() + 20
            while {s["metric"]["job"] for s in health} != jobs and time.monotonic() < deadline:
                health = prom.query(probes)
                time.sleep(0.3)
            assert {s["metric"]["job"] for s in health} == jobs
            assert {s["metric"]["service"] for s in health} == {t.job for t in targets}
            assert prom.wait_for('consortium_jobs_finished_total{status="failed"}')
            revoked = prom.wait_for('consortium_participants{job="registry", state="revoked"}')
            assert revoked[0]["value"][1] == "0"

            for expr in [*map(_grafana_to_promql, dashboard_exprs()), *rule_exprs().values()]:
                prom.query(expr)  # accepted by this Prometheus's PromQL engine

            rules = [rule for group in prom.api("rules")["groups"] for rule in group["rules"]]
            assert {r["name"] for r in rules} == set(rule_exprs())
            assert prom.api("alerts")["alerts"] == []  # all is well

            gateway.stop()
            registry.stop()
            prom.wait_targets(
                {"coordinator": "up", "metrics": "up", "registry": "down", "gateway": "down"}
            )
            deadline = time.monotonic() + 10
            alerts: list[dict] = []
            while time.monotonic() < deadline and not alerts:
                alerts = prom.api("alerts")["alerts"]
                time.sleep(0.3)
            while time.monotonic() < deadline and len(alerts) < 2:
                alerts = prom.api("alerts")["alerts"]
                time.sleep(0.3)
            down = sorted(
                (a["labels"]["alertname"], a["labels"]["job"], a["state"]) for a in alerts
            )
            assert down == [
                ("ServiceDown", "gateway", "pending"),
                ("ServiceDown", "registry", "pending"),
            ]
            groups = prom.api("rules")["groups"]
            assert all(r["health"] == "ok" for group in groups for r in group["rules"])
