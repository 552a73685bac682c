"""``/api/v1/participants``: the registry's participants, enrollment tokens and revocation."""

from __future__ import annotations

from typing import Annotated, Literal

from consortium_registry.schemas import (
    EnrollmentTokenCreate,
    EnrollmentTokenIssued,
    ParticipantCreate,
    ParticipantDetail,
    ParticipantPublic,
    RevocationResult,
    RevokeRequest,
)
from consortium_service.problems import problems
from fastapi import APIRouter, Path, Query, Response, status

from .deps import Admin, ServicesDep, Viewer

__all__ = ["router"]

router = APIRouter(prefix="/participants", tags=["participants"])

StatusFilter = Literal["active", "revoked"]

ParticipantId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", description="a participant's id")
]


@router.get("", response_model=list[ParticipantPublic], responses=problems(401))
async def list_participants(
    services: ServicesDep,
    operator: Viewer,
    participant_status: Annotated[
        Literal["active", "revoked"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Participants by id, with whether each is online now."""
    params = {"status": participant_status, "limit": limit, "offset": offset}
    return await services.registry.relay(
        "GET", "/api/v1/participants", params=params, bearer=operator.token
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ParticipantPublic,
    responses=problems(401, 403, 409),
)
async def create_participant(
    body: ParticipantCreate, services: ServicesDep, admin: Admin
) -> Response:
    """Register a participant (admin; 409 if the id is taken); it enrolls later with a token."""
    return await services.registry.relay(
        "POST", "/api/v1/participants", json=body.model_dump(mode="json"), bearer=admin.token
    )


@router.get("/{participant_id}", response_model=ParticipantDetail, responses=problems(401, 404))
async def get_participant(
    participant_id: ParticipantId, services: ServicesDep, operator: Viewer
) -> Response:
    """One participant with its certificate history."""
    return await services.registry.relay(
        "GET", f"/api/v1/participants/{participant_id}", bearer=operator.token
    )


@router.post(
    "/{participant_id}/enrollment-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentTokenIssued,
    responses=problems(401, 403, 404, 409),
)
async def create_enrollment_token(
    participant_id: ParticipantId,
    services: ServicesDep,
    admin: Admin,
    body: EnrollmentTokenCreate | None = None,
) -> Response:
    """A one-time enrollment token, shown this once (admin)."""
    return await services.registry.relay(
        "POST",
        f"/api/v1/participants/{participant_id}/enrollment-tokens",
        json=body.model_dump(mode="json") if body else None,
        bearer=admin.token,
    )


@router.post(
    "/{participant_id}/revoke",
    response_model=RevocationResult,
    responses=problems(401, 403, 404, 409),
)
async def revoke_participant(
    participant_id: ParticipantId, body: RevokeRequest, services: ServicesDep, admin: Admin
) -> Response:
    """Revoke a participant and its certificates; NATS refuses it within seconds (admin)."""
    return await services.registry.relay(
        "POST",
        f"/api/v1/participants/{participant_id}/revoke",
        json=body.model_dump(mode="json"),
        bearer=admin.token,
    )
