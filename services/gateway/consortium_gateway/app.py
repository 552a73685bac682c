"""The gateway's FastAPI application and its lifespan (services, NATS, read model)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import nats
from consortium_service.http_metrics import AsgiWrapper, install_metrics
from consortium_service.problems import problem, problems
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api import audit, auth, contributions, enrollment, events, jobs, participants
from .auth import OperatorAuth
from .console import install_console
from .final_cache import FinalCache
from .job_reads import JobReads
from .problems import install_problem_handlers
from .read_model import open_read_model
from .services import Services
from .settings import GatewaySettings, get_settings
from .upstream import Upstream

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    ),
}


_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class _CacheCollector(Collector):
    """Hits and misses of the cache of ended jobs, read at each scrape."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[CounterMetricFamily]:
        services: Services | None = getattr(self._app.state, "services", None)
        if services is None:
            return
        family = CounterMetricFamily(
            "consortium_gateway_final_cache_lookups",
            "Reads of ended jobs and their rounds, by whether the cache answered",
            labels=["result"],
        )
        family.add_metric(["hit"], services.jobs.final.hits)
        family.add_metric(["miss"], services.jobs.final.misses)
        yield family


async def _open_services(settings: GatewaySettings) -> Services:
    verify = settings.upstream_verify()
    timeout = settings.upstream_timeout_s
    coordinator = Upstream("coordinator", settings.coordinator_url, timeout_s=timeout)
    registry = Upstream("registry", settings.registry_url, timeout_s=timeout, verify=verify)
    read_model = await open_read_model(settings.database_url)
    nc = None
    if settings.nats_url:
        nc = await nats.connect(
            settings.nats_url,
            name="gateway",
            tls=settings.nats_tls(),
            max_reconnect_attempts=-1,
        )
    return Services(
        coordinator=coordinator,
        registry=registry,
        auth=OperatorAuth(registry, cache_s=settings.auth_cache_s),
        jobs=JobReads(
            coordinator,
            read_model,
            final_cache=FinalCache(max_entries=settings.final_cache_entries),
        ),
        contribution=Upstream("contribution", settings.contribution_url, timeout_s=timeout),
        nats=nc,
        read_model=read_model,
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the application; the lifespan opens the clients, NATS and the read model."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await _open_services(settings)
        log.info(
            "gateway ready on %s:%d (coordinator %s, registry %s)",
            settings.host,
            settings.port,
            settings.coordinator_url,
            settings.registry_url,
        )
        try:
            yield
        finally:
            await app.state.services.close()

    app = FastAPI(
        title="Consortium",
        version="1.0.0",
        summary="Federated learning with privacy by default: the platform's one API.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    api = APIRouter(prefix="/api/v1")

    @api.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the gateway answers."""
        return {"status": "ok", "service": "gateway"}

    @api.get("/ready", tags=["health"], responses=problems(503))
    async def ready(request: Request) -> Response:
        """Readiness: 200 when the coordinator, the registry and NATS answer, else 503."""
        services: Services = request.app.state.services
        state = await services.readiness()
        if all(state.values()):
            return Response('{"status":"ready"}', media_type="application/json")
        down = ", ".join(name for name, ok in state.items() if not ok)
        return problem(503, "Service Unavailable", f"not ready: {down}", checks=state)

    for module in (auth, jobs, events, contributions, participants, enrollment, audit):
        api.include_router(module.router)
    app.include_router(api)

    async def security_headers(app_: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in _SECURITY_HEADERS if k not in present),
                ]
            await send(message)

        await app_(scope, receive, with_headers if scope["type"] == "http" else send)

    app.add_middleware(AsgiWrapper, handler=security_headers)
    registry = CollectorRegistry()
    registry.register(_CacheCollector(app))
    install_metrics(app, service="gateway", registry=registry)
    install_problem_handlers(app)
    install_console(app, settings.console_dir)
    return app
