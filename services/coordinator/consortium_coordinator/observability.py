"""The coordinator's Prometheus metrics, served at ``/metrics``.

- ``consortium_round_duration_seconds`` (histogram, by task) and ``consortium_rounds_total``;
- ``consortium_bytes_sent_total`` / ``consortium_bytes_received_total`` (model traffic);
- ``consortium_participants_online`` (read from presence at each scrape);
- ``consortium_jobs_created_total``, ``consortium_jobs_running``,
  ``consortium_jobs_finished_total`` (by final status);
- ``consortium_privacy_epsilon_spent`` (by job and participant: the participant's DP-SGD over
  the job so far, composed by RDP, an upper bound; the privacy report gives PRV too) and
  ``consortium_privacy_epsilon_budget`` (by job, when the job sets ``privacy-budget-epsilon``);
- per running job (label ``job_id``): ``consortium_job_round`` (last round recorded),
  ``consortium_job_rounds_planned``, ``consortium_job_last_round_timestamp_seconds`` (Unix time
  of the last round recorded, or of the start when none is yet), ``consortium_job_accuracy`` and
  ``consortium_job_loss`` (the server-side metrics of the last round, when the ServerApp reports
  them);
- ``consortium_errors_total`` (by kind: participant_offline, update_refused, privacy_refusal,
  timeout, participant_error, job_failed).

Every series labelled with a job id is removed when the job ends, so a long-lived coordinator
keeps only its running jobs' series (Prometheus keeps their history).

>>> metrics = CoordinatorMetrics()
>>> metrics.watch_presence(lambda: 3)
>>> metrics.round_completed("digits-cnn", duration_s=0.2, bytes_sent=10, bytes_received=20,
...                         failures={"h2": "h2 went offline during the round"})
>>> sample = metrics.registry.get_sample_value
>>> sample("consortium_rounds_total", {"task": "digits-cnn"})
1.0
>>> sample("consortium_participants_online")
3.0
>>> sample("consortium_errors_total", {"kind": "participant_offline"})
1.0
>>> metrics.job_started("j1", rounds_planned=3, epsilon_budget=2.0)
>>> metrics.round_recorded("j1", server_round=1, metrics={"accuracy": 0.9, "loss": 0.3})
>>> job = {"job_id": "j1"}
>>> sample("consortium_job_accuracy", job), sample("consortium_job_round", job)
(0.9, 1.0)
>>> metrics.job_ended("j1", "completed", was_running=True)
>>> print(sample("consortium_privacy_epsilon_budget", job))
None
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from consortium_core.privacy import composed_epsilon
from consortium_core.privacy.job_budget import missing_spend
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .db.models import JobStatus

__all__ = ["ERROR_KINDS", "CoordinatorMetrics", "error_kind"]

ERROR_KINDS = (
    "participant_offline",
    "update_refused",
    "privacy_refusal",
    "timeout",
    "participant_error",
    "job_failed",
)
ROUND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def error_kind(reason: str) -> str:
    """The kind of a participant's failure in a round, from the reason the Grid recorded.

    >>> error_kind("update refused: array 'w' has shape (3,), expected (2,)")
    'update_refused'
    """
    text = reason.lower()
    if "privacy budget" in text:
        return "privacy_refusal"
    if "offline" in text:
        return "participant_offline"
    if "refused" in text:
        return "update_refused"
    if "ttl" in text or "timeout" in text:
        return "timeout"
    return "participant_error"


class _Online(Collector):
    def __init__(self) -> None:
        self.online: Callable[[], int] = lambda: 0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "consortium_participants_online",
            "Participants whose heartbeat the coordinator sees now",
            value=float(self.online()),
        )


class CoordinatorMetrics:
    """Every metric of one coordinator, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.round_duration = Histogram(
            "consortium_round_duration_seconds",
            "Wall time of a training round",
            ["task"],
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.rounds = Counter("consortium_rounds", "Rounds completed", ["task"], registry=r)
        self.bytes_sent = Counter("consortium_bytes_sent", "Bytes sent to participants", registry=r)
        self.bytes_received = Counter(
            "consortium_bytes_received", "Bytes received from participants", registry=r
        )
        self.jobs_created = Counter("consortium_jobs_created", "Jobs created", registry=r)
        self.jobs_running = Gauge("consortium_jobs_running", "Jobs running now", registry=r)
        self.jobs_finished = Counter(
            "consortium_jobs_finished", "Jobs ended, by final status", ["status"], registry=r
        )
        self.epsilon = Gauge(
            "consortium_privacy_epsilon_spent",
            "A participant's DP-SGD epsilon over the job so far (RDP, at the job's delta)",
            ["job_id", "participant"],
            registry=r,
        )
        self.epsilon_budget = Gauge(
            "consortium_privacy_epsilon_budget",
            "A running job's privacy budget: the epsilon no participant may exceed",
            ["job_id"],
            registry=r,
        )
        self.job_round = Gauge(
            "consortium_job_round", "Last round a running job recorded", ["job_id"], registry=r
        )
        self.job_rounds_planned = Gauge(
            "consortium_job_rounds_planned", "Rounds a running job asks for", ["job_id"], registry=r
        )
        self.job_last_round = Gauge(
            "consortium_job_last_round_timestamp_seconds",
            "When a running job last recorded a round (Unix time; its start before the first)",
            ["job_id"],
            registry=r,
        )
        self.job_accuracy = Gauge(
            "consortium_job_accuracy",
            "Server-side accuracy of a running job's model after its last round",
            ["job_id"],
            registry=r,
        )
        self.job_loss = Gauge(
            "consortium_job_loss",
            "Server-side loss of a running job's model after its last round",
            ["job_id"],
            registry=r,
        )
        self.errors = Counter("consortium_errors", "Errors, by kind", ["kind"], registry=r)
        # every status and kind from 0, so increase() sees the first one (alert rules use it)
        for status in sorted(JobStatus.FINAL):
            self.jobs_finished.labels(status)
        for kind in ERROR_KINDS:
            self.errors.labels(kind)
        self._online = _Online()
        r.register(self._online)
        self._histories: dict[str, dict[str, list[tuple[float, float, int]]]] = {}

    def watch_presence(self, online: Callable[[], int]) -> None:
        """Read the number of participants online from ``online`` at each scrape."""
        self._online.online = online

    def round_completed(
        self,
        task: str,
        *,
        duration_s: float,
        bytes_sent: int,
        bytes_received: int,
        failures: Mapping[str, str],
    ) -> None:
        """Count one round's time, traffic and failures."""
        self.round_duration.labels(task).observe(duration_s)
        self.rounds.labels(task).inc()
        self.bytes_sent.inc(bytes_sent)
        self.bytes_received.inc(bytes_received)
        for reason in failures.values():
            self.errors.labels(error_kind(reason)).inc()

    def privacy_spent(
        self, job_id: str, participant_metrics: Mapping[str, Mapping[str, float]]
    ) -> None:
        """Add one round's reported DP spends and update each participant's epsilon."""
        histories = self._histories.setdefault(job_id, {})
        for participant, metrics in participant_metrics.items():
            if missing_spend(metrics) is not None:
                continue
            history = histories.setdefault(participant, [])
            history.append(
                (
                    float(metrics["dp_noise_multiplier"]),
                    float(metrics["dp_sample_rate"]),
                    int(metrics["dp_steps"]),
                )
            )
            delta = float(metrics.get("dp_delta", 1e-5))
            value = composed_epsilon(accountant="rdp", history=history, delta=delta)
            self.epsilon.labels(job_id, participant).set(value)

    def job_started(
        self, job_id: str, *, rounds_planned: int | None, epsilon_budget: float | None
    ) -> None:
        """A job is running: count it and start its per-job series."""
        self.jobs_running.inc()
        self.job_last_round.labels(job_id).set(time.time())
        if rounds_planned is not None:
            self.job_rounds_planned.labels(job_id).set(rounds_planned)
        if epsilon_budget is not None:
            self.epsilon_budget.labels(job_id).set(epsilon_budget)

    def round_recorded(
        self, job_id: str, *, server_round: int, metrics: Mapping[str, float]
    ) -> None:
        """A running job recorded a round (round 0: its initial model) with these server-side
        metrics."""
        self.job_round.labels(job_id).set(server_round)
        self.job_last_round.labels(job_id).set(time.time())
        for name, gauge in (("accuracy", self.job_accuracy), ("loss", self.job_loss)):
            if name in metrics:
                gauge.labels(job_id).set(float(metrics[name]))

    def job_ended(self, job_id: str, status: str, *, was_running: bool) -> None:
        """Count a job's final status and remove its per-job series and DP histories."""
        self.jobs_finished.labels(status).inc()
        if was_running:
            self.jobs_running.dec()
        if status == "failed":
            self.errors.labels("job_failed").inc()
        for gauge in self._per_job:
            gauge.remove(job_id)
        for participant in self._histories.pop(job_id, {}):
            self.epsilon.remove(job_id, participant)

    @property
    def _per_job(self) -> tuple[Gauge, ...]:
        return (
            self.epsilon_budget,
            self.job_round,
            self.job_rounds_planned,
            self.job_last_round,
            self.job_accuracy,
            self.job_loss,
        )
