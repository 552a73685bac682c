"""SQLAlchemy models of the coordinator's tables (created by Alembic migrations only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Job", "JobStatus", "Round"]


def _now() -> datetime:
    return datetime.now(UTC)


class JobStatus:
    """The job state machine: pending -> running -> completed | failed | stopped."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    FINAL = frozenset({COMPLETED, FAILED, STOPPED})
    ALL = (PENDING, RUNNING, COMPLETED, FAILED, STOPPED)


class Base(DeclarativeBase):
    """Declarative base of the coordinator's models."""


class Job(Base):
    """A federated job: which task, which strategy, how many rounds, and how it went."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    task: Mapped[str] = mapped_column(String(300))
    server_app: Mapped[str] = mapped_column(String(300))
    client_task: Mapped[str] = mapped_column(String(300))
    strategy: Mapped[str] = mapped_column(String(100))
    rounds: Mapped[int] = mapped_column(Integer)
    min_participants: Mapped[int] = mapped_column(Integer)
    run_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    current_round: Mapped[int] = mapped_column(Integer, default=0)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # participant -> its answers to queries about the final model (mia_*, personal_*)
    audits: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Round(Base):
    """One completed round of a job (round 0 is the initial model's evaluation)."""

    __tablename__ = "rounds"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float] = mapped_column(Float)
    bytes_sent: Mapped[int] = mapped_column(BigInteger)
    bytes_received: Mapped[int] = mapped_column(BigInteger)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    failures: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    participant_metrics: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON, default=dict)
    checkpoint: Mapped[str | None] = mapped_column(String(300), nullable=True)
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
