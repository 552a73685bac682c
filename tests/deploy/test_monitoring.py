"""ServiceMonitors and the PrometheusRule only where the Prometheus Operator's API exists; the
Grafana dashboard and the alert rules are the ones in deploy/monitoring, not drifting copies."""

from __future__ import annotations

import json

import yaml

COMPONENTS = {"coordinator", "registry", "metrics", "contribution", "gateway"}


def test_no_prometheus_operator_no_servicemonitor(charts) -> None:
    rendered = charts.platform_profile("default")
    assert not rendered.of_kind("ServiceMonitor")
    assert not rendered.of_kind("PrometheusRule")


def test_servicemonitors_scrape_every_service_where_the_api_exists(charts) -> None:
    rendered = charts.platform_profile("default", api_versions=(charts.monitoring_api,))
    monitors = rendered.of_kind("ServiceMonitor")
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == COMPONENTS
    for monitor in monitors:
        component = monitor["metadata"]["labels"]["app.kubernetes.io/component"]
        service = rendered.component("Service", component)
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        # the job label is the component, as in deploy/monitoring's example (rules, dashboard)
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"
        (endpoint,) = monitor["spec"]["endpoints"]
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
        if endpoint["scheme"] == "https":
            assert endpoint["tlsConfig"]["ca"]["secret"]["key"] == "ca.crt"
            assert endpoint["tlsConfig"]["serverName"] == service["metadata"]["name"]


def test_the_alert_rules_are_deploy_monitorings(charts) -> None:
    source = charts.root / "deploy" / "monitoring" / "prometheus" / "rules" / "consortium.rules.yml"
    copy = charts.platform_dir / "files" / "prometheus" / "consortium.rules.yml"
    assert copy.read_text() == source.read_text(), "copy deploy/monitoring's rules into the chart"
    rendered = charts.platform_profile("ha", api_versions=(charts.monitoring_api,))
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(source.read_text())


def test_the_dashboard_is_deploy_monitorings(charts) -> None:
    source = charts.root / "deploy" / "monitoring" / "grafana" / "consortium-dashboard.json"
    copy = charts.platform_dir / "files" / "grafana" / "consortium-dashboard.json"
    assert copy.read_text() == source.read_text(), (
        "copy deploy/monitoring's dashboard into the chart"
    )
    rendered = charts.platform_profile("default")
    board = rendered.named("ConfigMap", "demo-consortium-dashboard")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["consortium-dashboard.json"]) == json.loads(source.read_text())
