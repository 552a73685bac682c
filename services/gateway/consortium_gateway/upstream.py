"""Calling the services behind the gateway: one pooled HTTP client per service.

A service's own answer (2xx, or a 4xx problem that explains what was wrong with the request)
passes through unchanged; a service that is down or answers 5xx becomes a gateway problem
(503 or 502) that names it, so a user never sees a raw connection error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import Response

from .errors import UpstreamError, UpstreamUnavailable

__all__ = ["FORWARDED_HEADERS", "Upstream"]

log = logging.getLogger(__name__)

FORWARDED_HEADERS = (
    "content-type",
    "content-disposition",
    "x-consortium-task",
    "x-consortium-round",
    "x-consortium-job-status",
    "x-consortium-metrics",
    "x-consortium-sha256",
)
"""Response headers a service sets for its client; the rest (server, date, length) are ours."""


class Upstream:
    """One service behind the gateway, by name and base URL."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            verify=verify,
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        bearer: str | None = None,
    ) -> httpx.Response:
        """Send a request; raise a gateway error if the service is down or failed."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._client.request(
                method, path, params=clean, json=json, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(f"the {self.name} did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %s", self.name, exc)
            raise UpstreamUnavailable(f"the {self.name} is not reachable; try again") from exc
        if response.status_code >= 500:
            log.warning("%s answered %d to %s %s", self.name, response.status_code, method, path)
            raise UpstreamError(f"the {self.name} failed on this request ({response.status_code})")
        return response

    async def relay(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        bearer: str | None = None,
    ) -> Response:
        """The service's answer as the gateway's response (status, body and its own headers)."""
        upstream = await self.request(method, path, params=params, json=json, bearer=bearer)
        headers = {k: v for k, v in upstream.headers.items() if k.lower() in FORWARDED_HEADERS}
        return Response(upstream.content, status_code=upstream.status_code, headers=headers)

    async def healthy(self) -> bool:
        """True when the service's ``/api/v1/health`` answers 200."""
        try:
            response = await self._client.get("/api/v1/health", timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()
