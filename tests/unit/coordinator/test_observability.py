"""The coordinator's per-job metrics: what the alerts read, and their removal when a job ends."""

from __future__ import annotations

import time

import pytest
from consortium_coordinator.observability import CoordinatorMetrics
from consortium_core.privacy import composed_epsilon

SPEND = {"dp_noise_multiplier": 1.0, "dp_sample_rate": 0.05, "dp_steps": 10.0}
PER_JOB = (
    "consortium_job_round",
    "consortium_job_rounds_planned",
    "consortium_job_last_round_timestamp_seconds",
    "consortium_job_accuracy",
    "consortium_job_loss",
    "consortium_privacy_epsilon_budget",
    "consortium_privacy_epsilon_spent",
)


def _job_series(metrics: CoordinatorMetrics, job_id: str) -> set[str]:
    return {
        sample.name
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.labels.get("job_id") == job_id
    }


def test_a_running_job_has_its_progress_budget_and_spend() -> None:
    metrics = CoordinatorMetrics()
    sample = metrics.registry.get_sample_value
    before = time.time()
    metrics.job_started("j1", rounds_planned=5, epsilon_budget=3.0)
    job = {"job_id": "j1"}
    started_at = sample("consortium_job_last_round_timestamp_seconds", job)
    assert before <= started_at <= time.time()
    assert sample("consortium_jobs_running") == 1
    assert sample("consortium_job_rounds_planned", job) == 5
    assert sample("consortium_privacy_epsilon_budget", job) == 3.0

    metrics.round_recorded("j1", server_round=0, metrics={"accuracy": 0.1, "loss": 2.3})
    time.sleep(0.01)
    metrics.round_recorded("j1", server_round=1, metrics={"accuracy": 0.8, "loss": 0.6})
    metrics.privacy_spent("j1", {"h1": SPEND, "h2": {"train_loss": 0.5}})
    assert sample("consortium_job_round", job) == 1
    assert sample("consortium_job_accuracy", job) == 0.8
    assert sample("consortium_job_loss", job) == 0.6
    assert sample("consortium_job_last_round_timestamp_seconds", job) > started_at
    spent = sample("consortium_privacy_epsilon_spent", {"job_id": "j1", "participant": "h1"})
    expected = composed_epsilon(accountant="rdp", history=[(1.0, 0.05, 10)], delta=1e-5)
    assert spent == pytest.approx(expected)
    assert sample("consortium_privacy_epsilon_spent", {"job_id": "j1", "participant": "h2"}) is None


def test_a_job_without_budget_or_accuracy_has_no_such_series() -> None:
    metrics = CoordinatorMetrics()
    metrics.job_started("j2", rounds_planned=None, epsilon_budget=None)
    metrics.round_recorded("j2", server_round=1, metrics={"auc": 0.7})
    assert _job_series(metrics, "j2") == {
        "consortium_job_round",
        "consortium_job_last_round_timestamp_seconds",
    }


@pytest.mark.parametrize("status", ["completed", "failed", "stopped"])
def test_an_ended_job_leaves_no_series_and_others_keep_theirs(status: str) -> None:
    metrics = CoordinatorMetrics()
    for job_id in ("ending", "other"):
        metrics.job_started(job_id, rounds_planned=3, epsilon_budget=2.0)
        metrics.round_recorded(job_id, server_round=1, metrics={"accuracy": 0.5, "loss": 1.0})
        metrics.privacy_spent(job_id, {"h1": SPEND, "h2": SPEND})
    assert _job_series(metrics, "ending") == set(PER_JOB)

    metrics.job_ended("ending", status, was_running=True)
    assert _job_series(metrics, "ending") == set()
    assert _job_series(metrics, "other") == set(PER_JOB)
    sample = metrics.registry.get_sample_value
    assert sample("consortium_jobs_running") == 1
    assert sample("consortium_jobs_finished_total", {"status": status}) == 1
    failed = sample("consortium_errors_total", {"kind": "job_failed"})
    assert failed == (1 if status == "failed" else 0)


def test_a_job_that_never_ran_ends_cleanly() -> None:
    metrics = CoordinatorMetrics()
    metrics.job_ended("never", "failed", was_running=False)
    assert metrics.registry.get_sample_value("consortium_jobs_running") == 0
