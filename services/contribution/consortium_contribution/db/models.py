"""The contribution service's tables (created by its Alembic migrations only).

``contribution_jobs``: each job seen, its task and method, or why it is not scored.
``contribution_rounds``: each scored round (cost, utilities) or why it could not be.
``contribution_values``: each participant's value in each scored round; the ledger sums them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "ContributionJob", "ContributionRound", "ContributionValue"]


class Base(DeclarativeBase):
    pass


class ContributionJob(Base):
    __tablename__ = "contribution_jobs"

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    task: Mapped[str] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContributionRound(Base):
    __tablename__ = "contribution_rounds"

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(Text)
    scored: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    evaluations: Mapped[int] = mapped_column(Integer, default=0)
    eval_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    utility_all: Mapped[float | None] = mapped_column(Float, nullable=True)
    utility_none: Mapped[float | None] = mapped_column(Float, nullable=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ContributionValue(Base):
    __tablename__ = "contribution_values"

    job_id: Mapped[str] = mapped_column(Text, primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant: Mapped[str] = mapped_column(Text, primary_key=True, index=True)
    value: Mapped[float] = mapped_column(Float)
