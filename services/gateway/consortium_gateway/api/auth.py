"""``/api/v1/auth`` and ``/api/v1/operators``: operators log in at the registry, through here."""

from __future__ import annotations

from consortium_registry.schemas import (
    LoginRequest,
    LoginResponse,
    OperatorCreate,
    OperatorPublic,
)
from consortium_service.problems import problems
from fastapi import APIRouter, Response, status

from .deps import Admin, ServicesDep, Viewer

__all__ = ["router"]

router = APIRouter(tags=["operators"])


@router.post("/auth/login", response_model=LoginResponse, responses=problems(401))
async def login(body: LoginRequest, services: ServicesDep) -> Response:
    """Exchange a username and password for a bearer token (401 on wrong credentials)."""
    return await services.registry.relay(
        "POST", "/api/v1/auth/login", json=body.model_dump(mode="json")
    )


@router.get("/auth/me", response_model=OperatorPublic, responses=problems(401))
async def me(services: ServicesDep, operator: Viewer) -> Response:
    """The operator the bearer token speaks for, with its role."""
    return await services.registry.relay("GET", "/api/v1/auth/me", bearer=operator.token)


@router.get("/operators", response_model=list[OperatorPublic], responses=problems(401, 403))
async def list_operators(services: ServicesDep, admin: Admin) -> Response:
    """Every operator account (admin)."""
    return await services.registry.relay("GET", "/api/v1/operators", bearer=admin.token)


@router.post(
    "/operators",
    status_code=status.HTTP_201_CREATED,
    response_model=OperatorPublic,
    responses=problems(401, 403, 409),
)
async def create_operator(body: OperatorCreate, services: ServicesDep, admin: Admin) -> Response:
    """Create an operator account with a role (admin; 409 if the name is taken)."""
    return await services.registry.relay(
        "POST", "/api/v1/operators", json=body.model_dump(mode="json"), bearer=admin.token
    )
