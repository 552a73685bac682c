"""The metrics service's read model, as the gateway reads it (see :mod:`.job_reads`)."""

from __future__ import annotations

from consortium_coordinator.jobs.schemas import JobPublic, RoundPublic

__all__ = ["SqlReadModel", "open_read_model"]


class SqlReadModel:
    """Jobs and rounds from the metrics service's Postgres tables."""

    async def list_jobs(self, *, status: str | None, limit: int, offset: int) -> list[JobPublic]:
        raise NotImplementedError

    async def get_job(self, job_id: str) -> JobPublic | None:
        raise NotImplementedError

    async def list_rounds(self, job_id: str) -> list[RoundPublic] | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


async def open_read_model(database_url: str) -> SqlReadModel | None:
    """The read model when the metrics service's tables exist, else None."""
    return None
