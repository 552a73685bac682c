"""``/api/v1/participants``: records, enrollment tokens, revocation."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, status

from .. import enrollment, participants
from ..schemas import (
    CertificatePublic,
    EnrollmentTokenCreate,
    EnrollmentTokenIssued,
    ParticipantCreate,
    ParticipantDetail,
    ParticipantPublic,
    RevocationResult,
    RevokeRequest,
)
from .deps import (
    AdminOperator,
    AnyOperator,
    AuthorizationDep,
    PresenceDep,
    SessionDep,
    SettingsDep,
)
from .problems import problems

__all__ = ["router"]

router = APIRouter(prefix="/participants", tags=["participants"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ParticipantPublic,
    responses=problems(401, 403, 409),
)
async def create_participant(
    body: ParticipantCreate, session: SessionDep, admin: AdminOperator
) -> ParticipantPublic:
    """Register a participant (admin; 409 if the id is taken). It enrolls later with a token."""
    participant = await participants.create_participant(
        session,
        participant_id=body.participant_id,
        name=body.name,
        organisation=body.organisation,
        contact=body.contact,
        actor=f"operator:{admin.username}",
    )
    return ParticipantPublic.of(participant)


@router.get("", response_model=list[ParticipantPublic], responses=problems(401))
async def list_participants(
    session: SessionDep,
    operator: AnyOperator,
    presence: PresenceDep,
    participant_status: Literal["active", "revoked"] | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[ParticipantPublic]:
    """Participants by id."""
    found = await participants.list_participants(
        session, status=participant_status, limit=limit, offset=offset
    )
    online = {e.participant_id for e in presence.online()} if presence is not None else None
    return [
        ParticipantPublic(
            **ParticipantPublic.fields_of(p), online=None if online is None else p.id in online
        )
        for p in found
    ]


@router.get("/{participant_id}", response_model=ParticipantDetail, responses=problems(401, 404))
async def get_participant(
    participant_id: str, session: SessionDep, operator: AnyOperator
) -> ParticipantDetail:
    """One participant with its certificate history."""
    participant = await participants.get_participant(session, participant_id)
    return ParticipantDetail(
        **ParticipantPublic.fields_of(participant),
        certificates=[CertificatePublic.of(c) for c in participant.certificates],
    )


@router.post(
    "/{participant_id}/enrollment-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentTokenIssued,
    responses=problems(401, 403, 404, 409),
)
async def create_enrollment_token(
    participant_id: str,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminOperator,
    body: EnrollmentTokenCreate | None = None,
) -> EnrollmentTokenIssued:
    """A one-time enrollment token, shown this once (admin; 409 for a revoked participant)."""
    ttl_s = body.ttl_s if body and body.ttl_s else settings.token_ttl_s
    token, record = await enrollment.create_enrollment_token(
        session, participant_id, ttl_s=ttl_s, actor=f"operator:{admin.username}"
    )
    return EnrollmentTokenIssued(
        participant_id=participant_id, token=token, expires_at=record.expires_at
    )


@router.post(
    "/{participant_id}/revoke",
    response_model=RevocationResult,
    responses=problems(401, 403, 404, 409),
)
async def revoke_participant(
    participant_id: str,
    body: RevokeRequest,
    session: SessionDep,
    authorization: AuthorizationDep,
    admin: AdminOperator,
) -> RevocationResult:
    """Revoke a participant and all its certificates, then update the broker's authorization."""
    participant, count = await participants.revoke_participant(
        session, participant_id, reason=body.reason, actor=f"operator:{admin.username}"
    )
    error = await authorization.sync()
    return RevocationResult(
        participant=ParticipantPublic.of(participant),
        certificates_revoked=count,
        authorization_applied=error is None,
        authorization_error=error,
    )
