"""The metrics service's FastAPI application and its lifespan (Postgres, NATS, the consumer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from consortium_client.transport import connect
from consortium_service.http_metrics import install_metrics
from consortium_service.problems import problems
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from . import queries
from .consumer import EventConsumer
from .db.bootstrap import ensure_database, migrate, wait_for_postgres
from .db.writer import BatchWriter
from .errors import NotReadyError
from .observability import IngestMetrics
from .problems import install_problem_handlers
from .schemas import IngestStatus
from .settings import MetricsSettings, get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

READY_PROBE_TIMEOUT_S = 2.0


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


async def _postgres_problem(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    try:
        async with asyncio.timeout(READY_PROBE_TIMEOUT_S), sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # down, restarting, unreachable: the reason goes in the answer
        return f"Postgres does not answer ({type(exc).__name__})"
    return None


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
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
        nc = await connect(settings.nats_url, name="metrics", tls=settings.nats_tls())
        writer = BatchWriter(settings.database_url)
        consumer = EventConsumer(
            nc,
            writer,
            durable=settings.durable,
            batch_size=settings.batch_size,
            fetch_wait_s=settings.fetch_wait_s,
            prefetch_batches=settings.prefetch_batches,
            ack_wait_s=settings.ack_wait_s,
            replicas=settings.jetstream_replicas,
            metrics=metrics,
        )
        await consumer.start()
        app.state.sessions, app.state.consumer = sessions, consumer
        log.info(
            "metrics service ready on %s:%d (NATS %s, durable %s)",
            settings.host,
            settings.port,
            settings.nats_url,
            settings.durable,
        )
        try:
            yield
        finally:
            await consumer.stop()
            await writer.close()
            await nc.drain()
            await engine.dispose()

    metrics = IngestMetrics()
    app = FastAPI(
        title="Consortium metrics",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": "metrics"}

    @api.get("/ready", tags=["health"], responses=problems(503))
    async def ready(request: Request) -> dict[str, str]:
        """Readiness: Postgres answers, NATS is connected and the consumer runs."""
        consumer: EventConsumer = request.app.state.consumer
        missing = consumer.problems()
        postgres = await _postgres_problem(request.app.state.sessions)
        if postgres is not None:
            missing.append(postgres)
        if missing:
            raise NotReadyError("; ".join(missing))
        return {"status": "ready", "service": "metrics"}

    @api.get("/ingest", tags=["ingest"])
    async def ingest(session: SessionDep) -> IngestStatus:
        """Events stored, duplicates skipped, messages rejected, newest event time."""
        return await queries.ingest_status(session)

    app.include_router(api)
    install_metrics(app, service="metrics", registry=metrics.registry)
    install_problem_handlers(app)
    return app
