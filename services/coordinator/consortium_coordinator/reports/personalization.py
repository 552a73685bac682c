"""A job's personalization report from the database."""

from __future__ import annotations

from consortium_core.contracts.personalization import (
    PersonalizationReport,
    build_personalization_report,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ..jobs import store

__all__ = ["load_personalization_report"]


async def load_personalization_report(session: AsyncSession, job_id: str) -> PersonalizationReport:
    """Build the report of ``job_id`` from its run config, status and participants' answers
    (raises :class:`~consortium_coordinator.errors.JobNotFoundError` for an unknown job)."""
    job = await store.get_job(session, job_id)
    return build_personalization_report(
        job_id=job.id, run_config=job.run_config, audits=job.audits, status=job.status
    )
