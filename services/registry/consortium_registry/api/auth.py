"""``/api/v1/auth`` and ``/api/v1/operators``: login and operator accounts."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from .. import operators
from ..schemas import LoginRequest, LoginResponse, OperatorCreate, OperatorPublic
from .deps import AdminOperator, AnyOperator, SessionDep, TokensDep
from .problems import problems

__all__ = ["router"]

router = APIRouter(tags=["operators"])


@router.post("/auth/login", response_model=LoginResponse, responses=problems(401))
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
) -> LoginResponse:
    """Exchange a username and password for a bearer token (401 on wrong credentials)."""
    client = request.client.host if request.client else None
    token, operator, expires_at = await operators.login(
        session, tokens, username=body.username, password=body.password, client=client
    )
    return LoginResponse(
        access_token=token,
        expires_at=expires_at,
        username=operator.username,
        role=operator.role,  # type: ignore[arg-type]
    )


@router.get("/auth/me", response_model=OperatorPublic, responses=problems(401))
async def me(operator: AnyOperator) -> OperatorPublic:
    """The operator the bearer token speaks for."""
    return OperatorPublic.of(operator)


@router.post(
    "/operators",
    status_code=status.HTTP_201_CREATED,
    response_model=OperatorPublic,
    responses=problems(401, 403, 409),
)
async def create_operator(
    body: OperatorCreate, session: SessionDep, admin: AdminOperator
) -> OperatorPublic:
    """Create an operator account (admin only; 409 if the name is taken)."""
    operator = await operators.create_operator(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        actor=f"operator:{admin.username}",
    )
    return OperatorPublic.of(operator)


@router.get("/operators", response_model=list[OperatorPublic], responses=problems(401, 403))
async def list_operators(session: SessionDep, admin: AdminOperator) -> list[OperatorPublic]:
    """Every operator account (admin only)."""
    return [OperatorPublic.of(o) for o in await operators.list_operators(session)]
