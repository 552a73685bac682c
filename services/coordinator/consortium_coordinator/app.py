"""The coordinator's FastAPI application and its lifespan (Postgres, NATS, runner)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from consortium_client.transport import connect
from consortium_core.contracts.events import JobFailed
from consortium_core.presence import Presence
from consortium_service.http_metrics import install_metrics
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from .api import jobs, participants, personalization, privacy
from .api.problems import install_problem_handlers
from .audit import AuditPublisher
from .db.bootstrap import ensure_database, migrate, wait_for_postgres
from .db.models import JobStatus
from .events import EventPublisher
from .jobs import store
from .observability import CoordinatorMetrics
from .runtime.checkpoints import CheckpointStore, UpdateStore
from .runtime.hub import NatsHub
from .runtime.runner import JobRunner, resume_refusal
from .settings import CoordinatorSettings, get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _take_over_unfinished_jobs(
    sessions: async_sessionmaker[AsyncSession], events: EventPublisher, runner: JobRunner
) -> None:
    """Jobs a previous process left: pending ones start, running ones resume from their last
    checkpointed round where their ServerApp can, the others fail with the reason."""
    async with sessions() as session:
        left = await store.unfinished_jobs(session)
    for job in left:
        refusal = resume_refusal(job) if job.status == JobStatus.RUNNING else None
        if refusal is None:
            log.warning("taking over job %s (%s) from a previous coordinator", job.id, job.status)
            runner.resume(job.id)
            continue
        reason = f"the coordinator restarted while this job was running and {refusal}"
        async with sessions() as session:
            await store.finish_job(session, job.id, JobStatus.FAILED, reason)
        await events.publish(JobFailed(job_id=job.id, reason=reason))
        log.warning("job %s failed: %s", job.id, reason)


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    """Build the application; the lifespan connects to Postgres and NATS, waiting for both."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await wait_for_postgres(settings.database_url)
        await ensure_database(settings.database_url)
        if settings.run_migrations:
            await asyncio.to_thread(migrate, settings.database_url)
        engine = create_async_engine(settings.database_url, pool_pre_ping=True)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        nc = await connect(settings.nats_url, name="coordinator", tls=settings.nats_tls())
        presence = Presence(timeout_s=settings.presence_timeout_s)
        metrics.watch_presence(lambda: len(presence.online()))
        hub = NatsHub(nc, presence)
        await hub.start()
        replicas = settings.jetstream_replicas
        events = EventPublisher(nc)
        await events.ensure_stream(replicas)
        checkpoints = CheckpointStore(nc, settings.checkpoint_bucket, replicas=replicas)
        updates = UpdateStore(
            nc, settings.update_bucket, settings.update_retention_s, replicas=replicas
        )
        audit = AuditPublisher(nc, asyncio.get_running_loop())
        await audit.ensure_stream(replicas)
        runner = JobRunner(
            hub=hub,
            sessions=sessions,
            events=events,
            checkpoints=checkpoints,
            updates=updates,
            audit=audit,
            participant_wait_s=settings.participant_wait_s,
            database_outage_s=settings.database_outage_s,
            round_timeout_s=settings.round_timeout_s,
            metrics=metrics,
        )
        await _take_over_unfinished_jobs(sessions, events, runner)
        app.state.sessions, app.state.presence = sessions, presence
        app.state.runner, app.state.checkpoints = runner, checkpoints
        log.info(
            "coordinator ready on %s:%d (NATS %s)", settings.host, settings.port, settings.nats_url
        )
        try:
            yield
        finally:
            await runner.shutdown()
            await asyncio.to_thread(audit.close)
            await hub.close()
            await nc.drain()
            await engine.dispose()

    metrics = CoordinatorMetrics()
    app = FastAPI(
        title="Consortium coordinator",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the service answers once Postgres and NATS are connected."""
        return {"status": "ok", "service": "coordinator"}

    api.include_router(jobs.router)
    api.include_router(participants.router)
    api.include_router(privacy.router)
    api.include_router(personalization.router)
    app.include_router(api)
    install_metrics(app, service="coordinator", registry=metrics.registry)
    install_problem_handlers(app)
    return app
