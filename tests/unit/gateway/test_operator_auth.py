"""Operator tokens at the gateway: verified by a real registry-shaped endpoint, cached, shared.

The registry side is a small ASGI app behind httpx's ASGI transport (the real registry's
behaviour is covered by tests/integration/test_gateway.py); what is tested here is the
gateway's own logic: concurrent requests with one token cost one registry call, answers are
reused for the cache time, a refused token is never cached.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from consortium_gateway.auth import OperatorAuth
from consortium_gateway.errors import AuthenticationRequired, PermissionDenied
from consortium_gateway.upstream import Upstream
from fastapi import FastAPI, Header, HTTPException


def _registry() -> tuple[FastAPI, list[str]]:
    calls: list[str] = []
    app = FastAPI()

    @app.get("/api/v1/auth/me")
    async def me(authorization: str = Header("")) -> dict[str, str]:
        calls.append(authorization)
        await asyncio.sleep(0.05)
        if authorization != "Bearer good":
            raise HTTPException(401, "the bearer token's signature is not valid")
        return {"username": "ann", "role": "viewer", "created_at": "2026-01-01T00:00:00Z"}

    return app, calls


@pytest.mark.asyncio
async def test_one_registry_call_for_many_concurrent_requests_then_cached() -> None:
    app, calls = _registry()
    registry = Upstream(
        "registry", "http://registry", timeout_s=5, transport=httpx.ASGITransport(app=app)
    )
    auth = OperatorAuth(registry, cache_s=60)
    operators = await asyncio.gather(*(auth.operator("good") for _ in range(20)))
    assert {o.username for o in operators} == {"ann"} and len(calls) == 1
    await auth.operator("good")
    assert len(calls) == 1
    assert operators[0].require("viewer") is operators[0]
    with pytest.raises(PermissionDenied, match="needs job_operator"):
        operators[0].require("job_operator")
    await registry.close()


@pytest.mark.asyncio
async def test_refused_tokens_are_not_cached() -> None:
    app, calls = _registry()
    registry = Upstream(
        "registry", "http://registry", timeout_s=5, transport=httpx.ASGITransport(app=app)
    )
    auth = OperatorAuth(registry, cache_s=60)
    for _ in range(2):
        with pytest.raises(AuthenticationRequired, match="signature"):
            await auth.operator("forged")
    assert len(calls) == 2
    with pytest.raises(AuthenticationRequired, match="log in first"):
        await auth.operator(None)
    await registry.close()
