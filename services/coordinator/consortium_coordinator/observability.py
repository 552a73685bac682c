"""The coordinator's Prometheus metrics, served at ``/metrics``.

- ``consortium_round_duration_seconds`` (histogram, by task) and ``consortium_rounds_total``;
- ``consortium_bytes_sent_total`` / ``consortium_bytes_received_total`` (model traffic);
- ``consortium_participants_online`` (read from presence at each scrape);
- ``consortium_jobs_created_total``, ``consortium_jobs_running``,
  ``consortium_jobs_finished_total`` (by final status);
- ``consortium_privacy_epsilon_spent`` (by job and participant: the participant's DP-SGD over
  the job so far, composed by RDP, an upper bound; the privacy report gives PRV too);
- ``consortium_errors_total`` (by kind: participant_offline, update_refused, privacy_refusal,
  timeout, participant_error, job_failed).

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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from consortium_core.privacy import composed_epsilon
from consortium_core.privacy.job_budget import missing_spend
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CoordinatorMetrics", "error_kind"]

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
        self.errors = Counter("consortium_errors", "Errors, by kind", ["kind"], registry=r)
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

    def job_started(self) -> None:
        self.jobs_running.inc()

    def job_ended(self, job_id: str, status: str, *, was_running: bool) -> None:
        """Count a job's final status; its DP histories are no longer needed."""
        self.jobs_finished.labels(status).inc()
        if was_running:
            self.jobs_running.dec()
        if status == "failed":
            self.errors.labels("job_failed").inc()
        self._histories.pop(job_id, None)
