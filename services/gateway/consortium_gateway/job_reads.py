"""Reading jobs and rounds: the metrics service's read model first, the coordinator second.

The read model (Postgres tables the metrics service fills from the event stream) answers the
console's frequent reads without touching the coordinator, which is busy running jobs. A job
created a moment ago may not be in it yet, so an unknown job is looked up at the coordinator
before it is a 404; and when the read model cannot answer at all (its tables not migrated yet,
Postgres away), the coordinator answers and the log says why.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from consortium_coordinator.jobs.schemas import JobPublic, RoundPublic
from pydantic import TypeAdapter
from sqlalchemy.exc import SQLAlchemyError

from .errors import NotFound
from .final_cache import FinalCache
from .upstream import Upstream

__all__ = ["JobReads", "ReadModel"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_JOBS = TypeAdapter(list[JobPublic])
_ROUNDS = TypeAdapter(list[RoundPublic])
_JOB = TypeAdapter(JobPublic)
FINAL_STATUSES = frozenset({"completed", "failed", "stopped"})


class ReadModel(Protocol):
    """What the gateway reads from the metrics service's tables (None: not there yet)."""

    async def list_jobs(self, *, status: str | None, limit: int, offset: int) -> list[JobPublic]:
        """Jobs, newest first."""
        ...

    async def get_job(self, job_id: str) -> JobPublic | None:
        """One job."""
        ...

    async def list_rounds(self, job_id: str) -> list[RoundPublic] | None:
        """A known job's rounds."""
        ...


class JobReads:
    """Job and round reads for the API."""

    def __init__(
        self,
        coordinator: Upstream,
        read_model: ReadModel | None = None,
        *,
        final_cache: FinalCache | None = None,
    ) -> None:
        self._coordinator = coordinator
        self._read_model = read_model
        self.final = final_cache if final_cache is not None else FinalCache()

    async def job_json(self, job_id: str) -> bytes:
        """The job's JSON (from the cache once the job has ended)."""
        cached = self.final.get(("job", job_id))
        if cached is not None:
            return cached
        job = await self.get(job_id)
        body = _JOB.dump_json(job)
        if job.status in FINAL_STATUSES:
            self.final.put(("job", job_id), body)
        return body

    async def rounds_json(self, job_id: str) -> bytes:
        """The job's rounds as JSON (from the cache once the job has ended)."""
        cached = self.final.get(("rounds", job_id))
        if cached is not None:
            return cached
        ended = ("job", job_id) in self.final or (await self.get(job_id)).status in FINAL_STATUSES
        body = _ROUNDS.dump_json(await self.rounds(job_id))
        if ended:  # read after the job ended: every round is in
            self.final.put(("rounds", job_id), body)
        return body

    async def _ask(self, call: Awaitable[T]) -> T | None:
        """The read model's answer, or None when it cannot answer now."""
        try:
            return await call
        except (SQLAlchemyError, OSError) as exc:
            log.warning("read model unavailable, asking the coordinator: %s", exc)
            return None

    async def list(self, *, status: str | None, limit: int, offset: int) -> list[JobPublic]:
        if self._read_model is not None:
            jobs = await self._ask(
                self._read_model.list_jobs(status=status, limit=limit, offset=offset)
            )
            if jobs is not None:
                return jobs
        params = {"status": status, "limit": limit, "offset": offset}
        return _JOBS.validate_python(await self._json("/api/v1/jobs", params))

    async def get(self, job_id: str) -> JobPublic:
        if self._read_model is not None:
            job = await self._ask(self._read_model.get_job(job_id))
            if job is not None:
                return job
        return JobPublic.model_validate(await self._json(f"/api/v1/jobs/{job_id}"))

    async def rounds(self, job_id: str) -> list[RoundPublic]:
        if self._read_model is not None:
            rounds = await self._ask(self._read_model.list_rounds(job_id))
            if rounds is not None:
                return rounds
        return _ROUNDS.validate_python(await self._json(f"/api/v1/jobs/{job_id}/rounds"))

    async def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._coordinator.request("GET", path, params=params)
        if response.status_code == 404:
            raise NotFound(response.json().get("detail", "not found"))
        return response.json()
