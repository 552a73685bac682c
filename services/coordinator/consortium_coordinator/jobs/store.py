"""Reading and writing jobs and rounds in Postgres. Each function takes an ``AsyncSession``."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Job, JobStatus, Round
from ..errors import JobNotFoundError, JobStateError
from .resolve import ResolvedJob
from .schemas import JobCreate

__all__ = [
    "add_job",
    "add_round",
    "finish_job",
    "get_job",
    "list_jobs",
    "list_rounds",
    "mark_running",
]


def _now() -> datetime:
    return datetime.now(UTC)


async def add_job(session: AsyncSession, request: JobCreate, resolved: ResolvedJob) -> Job:
    """Store a new pending job."""
    job = Job(
        id=uuid.uuid4().hex,
        run_id=secrets.randbits(62) or 1,
        name=request.name,
        task=resolved.task,
        server_app=resolved.server_app,
        client_task=resolved.client_task,
        strategy=request.strategy,
        rounds=request.rounds,
        min_participants=request.min_participants,
        run_config=resolved.run_config,
        status=JobStatus.PENDING,
        reason="",
        current_round=0,
        participants=[],
        metrics={},
        created_at=_now(),
    )
    session.add(job)
    await session.commit()
    return job


async def get_job(session: AsyncSession, job_id: str) -> Job:
    """The job with this id, or :class:`JobNotFoundError`."""
    job = await session.get(Job, job_id)
    if job is None:
        raise JobNotFoundError(job_id)
    return job


async def list_jobs(
    session: AsyncSession, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Job]:
    """Jobs, newest first."""
    query = select(Job).order_by(Job.created_at.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Job.status == status)
    return list((await session.scalars(query)).all())


async def list_rounds(session: AsyncSession, job_id: str) -> list[Round]:
    """A job's rounds in order (raises if the job does not exist)."""
    await get_job(session, job_id)
    query = select(Round).where(Round.job_id == job_id).order_by(Round.number)
    return list((await session.scalars(query)).all())


async def mark_running(session: AsyncSession, job_id: str, participants: list[str]) -> None:
    """pending -> running."""
    job = await get_job(session, job_id)
    if job.status != JobStatus.PENDING:
        raise JobStateError(f"job {job_id} is {job.status}, not pending")
    job.status, job.participants, job.started_at = JobStatus.RUNNING, participants, _now()
    await session.commit()


async def add_round(session: AsyncSession, job_id: str, values: dict[str, Any]) -> None:
    """Store a completed round and advance the job's round counter and metrics; a round
    stored already (a write retried after Postgres came back) is left as it is."""
    if await session.get(Round, (job_id, int(values["number"]))) is not None:
        return
    session.add(Round(job_id=job_id, created_at=_now(), **values))
    job = await get_job(session, job_id)
    job.current_round = max(job.current_round, int(values["number"]))
    job.metrics = dict(values["metrics"])
    seen = set(job.participants) | set(values["participants"])
    job.participants = sorted(seen)
    await session.commit()


async def save_audits(
    session: AsyncSession, job_id: str, audits: dict[str, dict[str, float]]
) -> None:
    """Keep the participants' answers to queries about the job's final model (membership
    audits ``mia_*``, personalization ``personal_*``), merged per participant."""
    job = await get_job(session, job_id)
    job.audits = dict(audits)
    await session.commit()


async def finish_job(session: AsyncSession, job_id: str, status: str, reason: str = "") -> Job:
    """Move a job to a final state (completed, failed, stopped) unless it is already final."""
    if status not in JobStatus.FINAL:
        raise ValueError(f"{status} is not a final state")
    job = await get_job(session, job_id)
    if job.status not in JobStatus.FINAL:
        job.status, job.reason, job.finished_at = status, reason, _now()
        await session.commit()
    return job


async def unfinished_jobs(session: AsyncSession) -> list[Job]:
    """Jobs a previous coordinator process left pending or running, oldest first."""
    query = (
        select(Job)
        .where(Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
        .order_by(Job.created_at)
    )
    return list((await session.scalars(query)).all())
