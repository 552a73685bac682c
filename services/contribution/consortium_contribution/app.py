"""The contribution service's FastAPI application: Postgres, NATS, the round scorer, and the
answers the gateway relays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from consortium_client.transport import connect
from consortium_service.http_metrics import install_metrics
from consortium_service.problems import install_standard_handlers, problem, problems
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .consumer import RoundScorer
from .db.bootstrap import ensure_database, migrate, wait_for_postgres
from .schemas import JobContributions, LedgerEntry
from .settings import ContributionServiceSettings, get_settings
from .store import ContributionStore, ledger_csv

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: ContributionServiceSettings | None = None) -> FastAPI:
    """Build the application; the lifespan connects to Postgres and NATS and starts scoring."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    scored = Gauge(
        "consortium_contribution_rounds_scored",
        "Rounds scored by this process since it started",
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await wait_for_postgres(settings.database_url)
        await ensure_database(settings.database_url)
        if settings.run_migrations:
            await asyncio.to_thread(migrate, settings.database_url)
        engine = create_async_engine(settings.database_url, pool_pre_ping=True)
        store = ContributionStore(async_sessionmaker(engine, expire_on_commit=False))
        nc = await connect(settings.nats_url, name="contribution", tls=settings.nats_tls())
        scorer = RoundScorer(nc, store, settings)
        await scorer.start()
        scored.set_function(lambda: scorer.rounds_scored)
        app.state.store, app.state.scorer = store, scorer
        log.info("contribution service ready on %s:%d", settings.host, settings.port)
        try:
            yield
        finally:
            await scorer.stop()
            await nc.drain()
            await engine.dispose()

    app = FastAPI(
        title="Consortium contribution",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "contribution"}

    @api.get("/ready", tags=["health"], responses=problems(503))
    async def ready(request: Request) -> Any:
        scorer: RoundScorer = request.app.state.scorer
        if not scorer.running():
            return problem(503, "Service Unavailable", "the round scorer is not running")
        return {"status": "ready", "service": "contribution", "last_error": scorer.last_error}

    @api.get(
        "/jobs/{job_id}/contributions",
        tags=["contributions"],
        response_model=JobContributions,
        responses=problems(404),
    )
    async def contributions(job_id: str, request: Request) -> Any:
        """Each participant's value over the job (sum of its rounds) and each round's values,
        or why the job has none (secure aggregation, asked for none)."""
        found = await request.app.state.store.job_contributions(job_id)
        if found is None:
            return problem(
                404,
                "Not Found",
                f"no contributions known for job {job_id}",
                instance=request.url.path,
            )
        return JSONResponse(found)

    @api.get("/ledger", tags=["contributions"], response_model=list[LedgerEntry])
    async def ledger(request: Request) -> list[dict[str, Any]]:
        """Each participant across jobs: its total value, jobs and rounds scored."""
        return await request.app.state.store.ledger()

    @api.get("/ledger.csv", tags=["contributions"], response_class=PlainTextResponse)
    async def ledger_as_csv(request: Request) -> PlainTextResponse:
        rows = await request.app.state.store.ledger()
        return PlainTextResponse(
            ledger_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="contribution-ledger.csv"'},
        )

    app.include_router(api)
    install_metrics(app, service="contribution", registry=registry)
    install_standard_handlers(app)
    return app
