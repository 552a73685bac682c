"""The alert rules and the example Prometheus config: promtool accepts them, the rules' unit
tests pass, and every alert is tested and documented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support.monitoring import PROMETHEUS_DIR, RULES, RULES_TEST, promtool, rule_exprs

needs_promtool = pytest.mark.skipif(
    promtool() is None,
    reason="promtool is not installed: Debian package 'prometheus' (`make install` adds it "
    "where apt-get can run as root)",
)
SERVICES = {  # scrape job -> (scheme, port)
    "coordinator": ("http", 8700),
    "registry": ("https", 8701),
    "metrics": ("http", 8702),
    "gateway": ("https", 8443),
}


def _promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(promtool()), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    output = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert f"SUCCESS: {len(rule_exprs())} rules found" in output


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", RULES_TEST.name, cwd=RULES.parent)


@needs_promtool
def test_promtool_checks_the_example_config() -> None:
    output = _promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert "SUCCESS: 1 rule files found" in output


def test_every_alert_is_unit_tested_both_ways() -> None:
    """Each alert has a test case expecting it to fire and one expecting silence."""
    cases = [
        case
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == silent == set(rule_exprs())


def test_every_alert_waits_and_says_how_bad_and_what() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {"ParticipantOffline", "RoundStalled", "PrivacyBudgetNearlySpent", "ServiceDown"} <= {
        rule["alert"] for rule in rules
    }
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_example_config_scrapes_every_service() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    for name, (scheme, port) in SERVICES.items():
        job = jobs[name]
        assert job.get("scheme", "http") == scheme, name
        assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{port}"]
        if scheme == "https":
            assert job["tls_config"]["ca_file"].endswith("var/pki/ca.crt")
    assert config["rule_files"] == ["rules/consortium.rules.yml"]
