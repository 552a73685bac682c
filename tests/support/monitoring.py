"""The monitoring files in deploy/monitoring, read for tests: PromQL of the alert rules and the
Grafana dashboard, and the metric names that PromQL uses."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DASHBOARD",
    "GRAFANA_MACROS",
    "PROMETHEUS_DIR",
    "RULES",
    "RULES_TEST",
    "dashboard",
    "dashboard_exprs",
    "metric_names",
    "promtool",
    "rule_exprs",
]

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "consortium.rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules" / "consortium.rules.test.yml"
DASHBOARD = MONITORING / "grafana" / "consortium-dashboard.json"
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$job_id": ".*"}
_NAME = re.compile(r"\b(consortium_[a-z0-9_]+)\b")


def promtool() -> str | None:
    """Path of ``promtool`` (Debian's ``prometheus`` package; ``make install`` adds it)."""
    return shutil.which("promtool")


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_exprs() -> list[str]:
    """Every query of the dashboard's panels, Grafana's macros still in."""
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def rule_exprs() -> dict[str, str]:
    """Alert name -> its expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def metric_names(expr: str) -> set[str]:
    """The Consortium metric names an expression reads (as exposed: ``_total``, ``_bucket``)."""
    return set(_NAME.findall(expr))
