"""SQLAlchemy models of the metrics service's tables (created by its Alembic migrations only).

``metrics_events`` holds every event once, by its id; the other tables are projections of it
that the consumer keeps up to date in the same transaction, and that the gateway reads.

Documents are Postgres ``json`` (the text as published, validated), not ``jsonb``: ``jsonb``
converts every number to ``numeric`` on the way in, which cost about 35 us per event on this
2-core machine, more than any other step of ingestion; the read model returns whole
documents, which ``json`` serves as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "MetricsEvent",
    "MetricsIngest",
    "MetricsJob",
    "MetricsParticipantRound",
    "MetricsRejectedEvent",
    "MetricsRound",
]


class Base(DeclarativeBase):
    """Declarative base of the metrics service's models."""


class MetricsEvent(Base):
    """One job event as published (``payload`` is its JSON), stored once by its id."""

    __tablename__ = "metrics_events"

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    job_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    stored_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class MetricsJob(Base):
    """What the events say about a job so far (a job seen only through later events has
    ``task`` None until its ``job_created`` arrives)."""

    __tablename__ = "metrics_jobs"
    __table_args__ = (
        Index("ix_metrics_jobs_created", text("created_at DESC"), text("job_id DESC")),
        Index(
            "ix_metrics_jobs_status_created",
            "status",
            text("created_at DESC"),
            text("job_id DESC"),
        ),
    )

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(Text)
    client_task: Mapped[str | None] = mapped_column(Text)
    strategy: Mapped[str | None] = mapped_column(Text)
    planned_rounds: Mapped[int | None] = mapped_column(Integer)
    min_participants: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    participants: Mapped[list[str] | None] = mapped_column(JSON)
    last_round: Mapped[int | None] = mapped_column(Integer)
    final_metrics: Mapped[dict[str, float] | None] = mapped_column(JSON)
    duration_s: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricsRound(Base):
    """One completed round of a job (round 0 is the initial model's evaluation)."""

    __tablename__ = "metrics_rounds"

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    bytes_sent: Mapped[int] = mapped_column(BigInteger)
    bytes_received: Mapped[int] = mapped_column(BigInteger)
    participants: Mapped[list[str]] = mapped_column(JSON)
    failures: Mapped[dict[str, str]] = mapped_column(JSON)
    participant_metrics: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON)
    checkpoint: Mapped[str | None] = mapped_column(Text)
    checkpoint_sha256: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(Text)


class MetricsParticipantRound(Base):
    """What one participant reported with its update in one round, and its DP-SGD spend
    (``dp_*``, None when it reported none)."""

    __tablename__ = "metrics_participant_rounds"

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    participant: Mapped[str] = mapped_column(Text, primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    dp_noise_multiplier: Mapped[float | None] = mapped_column(Float)
    dp_sample_rate: Mapped[float | None] = mapped_column(Float)
    dp_steps: Mapped[int | None] = mapped_column(BigInteger)
    dp_delta: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricsRejectedEvent(Base):
    """A message on the events stream that is not a valid event, kept with the reason."""

    __tablename__ = "metrics_rejected_events"
    __table_args__ = (UniqueConstraint("stream_seq", "raw_sha256"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class MetricsIngest(Base):
    """One row: running totals of the consumer, updated in each batch's transaction."""

    __tablename__ = "metrics_ingest"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    events_stored: Mapped[int] = mapped_column(BigInteger)
    duplicates_skipped: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_stream_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
