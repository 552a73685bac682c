"""Prometheus metrics of a service's HTTP API, and its ``/metrics`` endpoint.

``consortium_http_requests_total`` (by service, method, route template, status) and
``consortium_http_request_duration_seconds`` (by service, method, route template). Routes are
labelled by their template (``/api/v1/jobs/{job_id}``), never by the raw path, so ids do not
multiply the series; a path no route matches is labelled ``unmatched``.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from prometheus_client import CollectorRegistry
>>> from fastapi import APIRouter
>>> app, registry = FastAPI(), CollectorRegistry()
>>> api, items = APIRouter(prefix="/api"), APIRouter(prefix="/items")
>>> @items.get("/{item_id}")
... async def item(item_id: int) -> dict[str, int]:
...     return {"id": item_id}
>>> api.include_router(items)
>>> app.include_router(api)
>>> install_metrics(app, service="demo", registry=registry)
>>> client = TestClient(app)
>>> client.get("/api/items/7").status_code, client.get("/nowhere").status_code
(200, 404)
>>> labels = {"service": "demo", "method": "GET", "route": "/api/items/{item_id}", "status": "200"}
>>> registry.get_sample_value("consortium_http_requests_total", labels)
1.0
>>> "consortium_http_requests_total" in client.get("/metrics").text
True
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AsgiWrapper", "install_metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's full template. FastAPI 0.138 matches routes of included routers
    lazily: ``scope["route"]`` then holds the inner route (no prefix) and the full template is
    in FastAPI's effective route context; older versions put the full route in ``route``."""
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return "unmatched" if path is None else str(scope.get("root_path", "")) + str(path)


class AsgiWrapper:
    """A plain ASGI middleware around ``handler`` (no BaseHTTPMiddleware: no extra task and
    stream per request, and streaming responses pass straight through)."""

    def __init__(self, app: ASGIApp, handler: Callable[..., Awaitable[None]]) -> None:
        self.app, self.handler = app, handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(self.app, scope, receive, send)


def install_metrics(app: FastAPI, *, service: str, registry: CollectorRegistry) -> None:
    """Count ``app``'s requests into ``registry`` and serve ``registry`` at ``/metrics``.

    The endpoint runs on the event loop, so collectors that read the loop's state (presence)
    never race with it.
    """
    requests = Counter(
        "consortium_http_requests",
        "HTTP requests, by route template and status",
        ["service", "method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "consortium_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template",
        ["service", "method", "route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    async def measured(app_: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app_(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app_(scope, receive, send_status)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            latency.labels(service, method, route).observe(time.perf_counter() - started)
            requests.labels(service, method, route, str(status)).inc()

    app.add_middleware(AsgiWrapper, handler=measured)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
