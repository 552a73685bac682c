"""Operators: the registry says who a bearer token speaks for; the gateway checks roles.

The registry issues tokens (``POST /api/v1/auth/login``) and knows each operator's current role.
The gateway asks it (``GET /api/v1/auth/me``) and remembers the answer for ``cache_s`` seconds,
so a role change or a deleted operator takes effect within that time while a busy console does
not cost a registry call per request.

>>> at_least("viewer", "job_operator"), at_least("admin", "job_operator")
(False, True)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from .errors import AuthenticationRequired, PermissionDenied, UpstreamError
from .upstream import Upstream

__all__ = ["ROLES", "Operator", "OperatorAuth", "at_least"]

ROLES = ("viewer", "job_operator", "admin")
"""From least to most allowed: viewers read, job operators also run jobs, admins do all."""


def at_least(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (unknown roles may do nothing)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Operator:
    """A logged-in operator and the token it came with (forwarded to the registry)."""

    username: str
    role: str
    token: str

    def require(self, needed: str) -> Operator:
        """This operator if its role allows ``needed``, else :class:`PermissionDenied`."""
        if not at_least(self.role, needed):
            raise PermissionDenied(
                f"operator {self.username!r} has role {self.role!r}; this needs {needed} or above"
            )
        return self


class OperatorAuth:
    """Verifies bearer tokens with the registry, with a short cache."""

    def __init__(self, registry: Upstream, *, cache_s: float, max_entries: int = 10_000) -> None:
        self._registry = registry
        self._cache_s = cache_s
        self._max = max_entries
        self._cache: dict[str, tuple[float, Operator]] = {}
        self._checking: dict[str, asyncio.Future[Operator]] = {}

    async def operator(self, token: str | None) -> Operator:
        """The operator ``token`` speaks for, or :class:`AuthenticationRequired`."""
        if not token:
            raise AuthenticationRequired("log in first: send 'Authorization: Bearer <token>'")
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        # one registry call per token at a time: requests that arrive meanwhile share its answer
        pending = self._checking.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Operator] = asyncio.get_running_loop().create_future()
        self._checking[key] = future
        try:
            operator = await self._ask_registry(token, key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            future.set_result(operator)
            return operator
        finally:
            del self._checking[key]

    async def _ask_registry(self, token: str, key: str) -> Operator:
        response = await self._registry.request("GET", "/api/v1/auth/me", bearer=token)
        if response.status_code in (401, 403):
            self._cache.pop(key, None)
            raise AuthenticationRequired(_detail(response) or "the bearer token is not valid")
        if response.status_code != 200:
            raise UpstreamError(f"the registry answered {response.status_code} to a token check")
        body = response.json()
        operator = Operator(username=str(body["username"]), role=str(body["role"]), token=token)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self._cache_s, operator)
        return operator

    def forget(self, token: str) -> None:
        """Drop a token from the cache (after logout or a role change made here)."""
        self._cache.pop(hashlib.sha256(token.encode()).hexdigest(), None)


def _detail(response: object) -> str | None:
    try:
        return str(response.json().get("detail"))  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None
