"""The metrics service's read model, as the gateway reads it (see :mod:`.job_reads`).

The metrics service owns the tables and their migrations; the gateway only reads them, through
:mod:`consortium_metrics.queries`, and answers in the coordinator's own shapes (``JobPublic``,
``RoundPublic``) so that a client cannot tell which one answered.
"""

from __future__ import annotations

from consortium_coordinator.jobs.schemas import JobPublic, RoundPublic
from consortium_metrics import queries
from consortium_metrics.schemas import JobMetrics, RoundMetrics
from pydantic_core import from_json
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

__all__ = ["SqlReadModel", "job_public", "open_read_model", "round_public"]


def job_public(job: JobMetrics, latest_metrics: dict[str, float] | None = None) -> JobPublic:
    """A read-model job in the API's shape; ``metrics`` are the final ones, else the latest
    round's (what the coordinator shows)."""
    return JobPublic(
        id=job.job_id,
        name=job.name,
        task=job.task or "",
        client_task=job.client_task or job.task or "",
        strategy=job.strategy or "",
        rounds=job.planned_rounds or 0,
        min_participants=job.min_participants or 0,
        run_config=job.config,
        status=job.status,
        reason=job.reason,
        current_round=job.last_round or 0,
        participants=job.participants,
        metrics=job.final_metrics if job.final_metrics is not None else latest_metrics or {},
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def round_public(row: RoundMetrics) -> RoundPublic:
    """A read-model round in the API's shape."""
    return RoundPublic(
        number=row.round,
        metrics=row.metrics,
        duration_s=row.duration_s,
        bytes_sent=row.bytes_sent,
        bytes_received=row.bytes_received,
        participants=row.participants,
        failures=row.failures,
        participant_metrics=row.participant_metrics,
        checkpoint=row.checkpoint,
        checkpoint_sha256=row.checkpoint_sha256,
    )


class SqlReadModel:
    """Jobs and rounds from the metrics service's Postgres tables (read only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def list_jobs(self, *, status: str | None, limit: int, offset: int) -> list[JobPublic]:
        async with self._sessions() as session:
            jobs = await queries.list_jobs(session, status=status, limit=limit, offset=offset)
            result = []
            for job in jobs:
                if job.task is None:  # its job_created is not stored yet
                    continue
                result.append(job_public(job, await self._latest(session, job)))
            return result

    async def get_job(self, job_id: str) -> JobPublic | None:
        async with self._sessions() as session:
            job = await queries.get_job(session, job_id)
            if job is None or job.task is None:
                return None
            return job_public(job, await self._latest(session, job))

    async def list_rounds(self, job_id: str) -> list[RoundPublic] | None:
        async with self._sessions() as session:
            rounds = await queries.list_rounds(session, job_id)
            if not rounds and await queries.get_job(session, job_id) is None:
                return None  # (a job's rounds exist only once it is known: one query usually)
            return [round_public(r) for r in rounds]

    @staticmethod
    async def _latest(session: object, job: JobMetrics) -> dict[str, float] | None:
        """The last round's metrics of a job without final metrics (one indexed lookup)."""
        if job.final_metrics is not None or job.last_round is None:
            return None
        latest = await queries.get_round(session, job.job_id, job.last_round)  # type: ignore[arg-type]
        return latest.metrics if latest is not None else None

    async def close(self) -> None:
        await self._engine.dispose()


async def open_read_model(database_url: str, *, pool_size: int = 20) -> SqlReadModel:
    """Connect lazily: the tables may appear after the gateway starts (metrics migrates them).

    Reads only, so autocommit (no BEGIN/ROLLBACK round trips); a fixed pool that requests wait
    for rather than connections opened and closed under load; JSON columns decoded by
    pydantic-core's parser. A dead connection fails one read, which the coordinator answers.
    """
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        isolation_level="AUTOCOMMIT",
        json_deserializer=from_json,
    )
    return SqlReadModel(engine)
