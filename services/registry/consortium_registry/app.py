"""The registry's FastAPI application and its lifespan (PKI files, Postgres, first admin, sink)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from consortium_client.transport import connect
from consortium_service.http_metrics import install_metrics
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .api import audit, auth, enrollment, participants
from .api.problems import install_problem_handlers
from .audit_consumer import AuditConsumer, nats_tls_context
from .authorization import AuthorizationSync, load_sink
from .db.bootstrap import ensure_database, migrate, wait_for_postgres
from .files import write_private
from .observability import RegistryMetrics
from .operators import enforce_configured_admin, ensure_first_admin
from .pki import RegistryPki, load_or_create_session_secret, prepare_pki
from .presence import PresenceRecorder
from .session_tokens import SessionTokens
from .settings import RegistrySettings, get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _bootstrap_admin(sessions: async_sessionmaker, settings: RegistrySettings) -> None:  # type: ignore[type-arg]
    configured = settings.admin_password
    password = configured.get_secret_value() if configured else secrets.token_urlsafe(18)
    async with sessions() as session:
        created = await ensure_first_admin(session, settings.admin_username, password)
    if not created and configured is not None:
        async with sessions() as session:
            change = await enforce_configured_admin(session, settings.admin_username, password)
        if change != "unchanged":
            log.warning("operator %r %s from configuration", settings.admin_username, change)
    if created:
        write_private(settings.admin_password_file, (password + "\n").encode())
        log.info(
            "created operator %r; its password is in %s",
            settings.admin_username,
            settings.admin_password_file,
        )


def create_app(
    settings: RegistrySettings | None = None, *, pki: RegistryPki | None = None
) -> FastAPI:
    """Build the application; the lifespan prepares the CA and Postgres, waiting for Postgres."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ready_pki = pki if pki is not None else await asyncio.to_thread(prepare_pki, settings)
        secret = await asyncio.to_thread(load_or_create_session_secret, settings)
        await wait_for_postgres(settings.database_url)
        await ensure_database(settings.database_url)
        if settings.run_migrations:
            await asyncio.to_thread(migrate, settings.database_url)
        engine = create_async_engine(settings.database_url, pool_pre_ping=True)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        await _bootstrap_admin(sessions, settings)
        authorization = AuthorizationSync(load_sink(settings), sessions)
        await authorization.sync()
        app.state.settings, app.state.sessions = settings, sessions
        app.state.ca, app.state.authorization = ready_pki.ca, authorization
        app.state.tokens = SessionTokens(secret, ttl_s=settings.session_ttl_s)
        nc, consumer = None, None
        if settings.nats.url:
            nc = await connect(settings.nats.url, name="registry", tls=nats_tls_context(settings))
            consumer = AuditConsumer(nc, sessions, replicas=settings.nats.jetstream_replicas)
            await consumer.start()
            app.state.presence = PresenceRecorder(nc, sessions)
            await app.state.presence.start()
            metrics.watch_presence(app.state.presence.presence)
        await metrics.refresh(sessions)
        refresher = asyncio.create_task(
            metrics.refresh_forever(sessions, interval_s=settings.metrics_refresh_s),
            name="metrics-refresh",
        )
        scheme = "https" if settings.tls else "http"
        log.info("registry ready on %s://%s:%d", scheme, settings.host, settings.port)
        try:
            yield
        finally:
            refresher.cancel()
            if consumer is not None:
                await consumer.stop()
                await app.state.presence.stop()
            if nc is not None:
                await nc.close()
            await engine.dispose()

    metrics = RegistryMetrics()
    app = FastAPI(
        title="Consortium registry",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the service answers once the CA and Postgres are ready."""
        return {"status": "ok", "service": "registry"}

    for module in (auth, participants, enrollment, audit):
        api.include_router(module.router)
    app.include_router(api)
    install_metrics(app, service="registry", registry=metrics.registry)
    install_problem_handlers(app)
    return app
