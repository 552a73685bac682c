"""The read model's pydantic models: what :mod:`consortium_metrics.queries` returns.

>>> from datetime import UTC, datetime
>>> t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
>>> JobMetrics(job_id="j", status="failed", created_at=t0, started_at=t0,
...            finished_at=t1, updated_at=t1).duration_s
60.0
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DpSpend",
    "IngestStatus",
    "JobMetrics",
    "ParticipantPrivacy",
    "ParticipantRoundMetrics",
    "RoundMetrics",
]


class _ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class JobMetrics(_ReadModel):
    """A job as its events tell it. ``task`` is None while its ``job_created`` is unseen;
    ``duration_s`` is the job's own figure when it completed, else finished minus started."""

    job_id: str
    name: str = ""
    task: str | None = None
    client_task: str | None = None
    strategy: str | None = None
    planned_rounds: int | None = None
    min_participants: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    status: str = Field(description="pending, running, completed, failed or stopped")
    reason: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    participants: list[str] = Field(default_factory=list)
    last_round: int | None = Field(None, description="the highest round completed so far")
    final_metrics: dict[str, float] | None = None
    duration_s: float | None = None
    updated_at: datetime = Field(description="time of the latest event applied")

    @model_validator(mode="after")
    def _derive_duration(self) -> JobMetrics:
        if self.duration_s is None and self.started_at and self.finished_at:
            self.duration_s = (self.finished_at - self.started_at).total_seconds()
        return self

    @classmethod
    def from_row(cls, row: Any) -> JobMetrics:
        """From a ``metrics_jobs`` row (columns not known yet are NULL there)."""
        values = {k: v for k, v in dict(row).items() if v is not None}
        return cls.model_validate(values)


class RoundMetrics(_ReadModel):
    """One completed round: server-side metrics, wall time, traffic, who took part or failed."""

    job_id: str
    round: int
    metrics: dict[str, float]
    duration_s: float
    bytes_sent: int
    bytes_received: int
    participants: list[str]
    failures: dict[str, str] = Field(description="participant -> why it failed this round")
    participant_metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="participant -> what it reported with its update"
    )
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    at: datetime


class DpSpend(_ReadModel):
    """A participant's DP-SGD inputs for one round (what it reported with its update)."""

    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float | None = None


class ParticipantRoundMetrics(_ReadModel):
    """What one participant reported in one round, with its DP-SGD spend if it had one."""

    participant: str
    round: int
    metrics: dict[str, float]
    dp: DpSpend | None = None
    at: datetime


class ParticipantPrivacy(_ReadModel):
    """A participant's privacy spent in a job: its DP-SGD rounds composed by an accountant
    (``epsilon`` None when it reported no DP spend)."""

    participant: str
    accountant: str = "rdp"
    epsilon: float | None
    problem: str | None = Field(
        None, description="why its reported spend cannot be accounted (then epsilon is None)"
    )
    delta: float | None = Field(description="the smallest delta it reported (the strictest)")
    rounds: int = Field(description="rounds it reported metrics for")
    dp_rounds: int = Field(description="rounds with a DP-SGD spend")
    steps: int = Field(description="DP-SGD steps over those rounds")


class IngestStatus(_ReadModel):
    """How far the metrics service has come: totals since its database was created."""

    events_stored: int
    duplicates_skipped: int
    rejected: int
    last_event_at: datetime | None = Field(None, description="newest event time stored")
    last_stream_seq: int = Field(description="highest stream sequence handled")
    updated_at: datetime | None = Field(None, description="when the last batch was stored")
