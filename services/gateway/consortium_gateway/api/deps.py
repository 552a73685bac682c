"""FastAPI dependencies as ``Annotated`` aliases: the services and the operator's role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..auth import Operator, OperatorAuth
from ..services import Services

__all__ = ["Admin", "JobOperator", "ServicesDep", "Viewer"]

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")


async def _services(request: Request) -> Services:  # async: no thread hop per request
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(_services)]


async def _operator(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    auth: OperatorAuth = services.auth
    return await auth.operator(credentials.credentials if credentials else None)


async def _job_operator(operator: Annotated[Operator, Depends(_operator)]) -> Operator:
    return operator.require("job_operator")


async def _admin(operator: Annotated[Operator, Depends(_operator)]) -> Operator:
    return operator.require("admin")


Viewer = Annotated[Operator, Depends(_operator)]
"""Any logged-in operator: read access."""
JobOperator = Annotated[Operator, Depends(_job_operator)]
"""A job operator or admin: create and stop jobs."""
Admin = Annotated[Operator, Depends(_admin)]
"""An admin: participants, enrollment tokens, revocation, operators."""
