"""The Grafana dashboard is valid JSON that Grafana imports: a data source variable every panel
and query uses, a job variable, and panels for what operators watch."""

from __future__ import annotations

import json

from support.monitoring import DASHBOARD, dashboard, dashboard_exprs, metric_names

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def test_it_is_a_grafana_dashboard_with_its_variables() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["title"] and board["uid"]
    assert 36 <= board["schemaVersion"] <= 41
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    job = variables["job_id"]
    assert job["type"] == "query" and job["datasource"] == DATASOURCE
    assert "job_id" in job["query"]["query"] and job["includeAll"] is True


def test_every_panel_has_the_data_source_and_a_query() -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]  # rows only group
    assert len(panels) >= 15
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip() and target["refId"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]


def test_panels_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        g = panel["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, panel["title"]
        cells |= mine


def test_it_shows_jobs_accuracy_latency_participants_privacy_traffic_errors_http() -> None:
    used = set().union(*map(metric_names, dashboard_exprs()))
    assert {
        "consortium_job_round",
        "consortium_jobs_running",
        "consortium_jobs_finished_total",
        "consortium_job_accuracy",
        "consortium_round_duration_seconds_bucket",
        "consortium_participants_online",
        "consortium_participant_online",
        "consortium_privacy_epsilon_spent",
        "consortium_privacy_epsilon_budget",
        "consortium_bytes_sent_total",
        "consortium_bytes_received_total",
        "consortium_errors_total",
        "consortium_http_request_duration_seconds_bucket",
    } <= used
    quantiles = [e for e in dashboard_exprs() if "histogram_quantile(0.95" in e]
    assert any("consortium_round_duration_seconds_bucket" in e for e in quantiles)
    assert any("consortium_http_request_duration_seconds_bucket" in e for e in quantiles)
