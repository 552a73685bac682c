"""Participants: create, read, revoke, and who is active. Each function takes an ``AsyncSession``.

Revocation is final: the participant and every certificate it holds are marked revoked in one
transaction with its audit entry. A new identity needs a new participant id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from consortium_core.subjects import check_participant_id
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .audit_log import append_audit
from .db.models import Certificate, Participant, ParticipantStatus
from .errors import (
    AlreadyExistsError,
    InvalidParticipantIdError,
    NotFoundError,
    StateConflictError,
)

__all__ = [
    "active_participant_ids",
    "create_participant",
    "get_participant",
    "list_participants",
    "lock_participant",
    "revoke_participant",
]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


async def create_participant(
    session: AsyncSession,
    *,
    participant_id: str,
    name: str = "",
    organisation: str = "",
    contact: str = "",
    actor: str,
) -> Participant:
    """Store a new active participant (it has no certificate until it enrolls)."""
    try:
        check_participant_id(participant_id)
    except ValueError as exc:
        raise InvalidParticipantIdError(str(exc)) from exc
    if await session.get(Participant, participant_id) is not None:
        raise AlreadyExistsError(f"participant {participant_id!r} exists already")
    participant = Participant(
        id=participant_id,
        name=name,
        organisation=organisation,
        contact=contact,
        status=ParticipantStatus.ACTIVE,
        created_at=_now(None),
    )
    session.add(participant)
    try:
        await session.flush()
    except IntegrityError as exc:  # created concurrently
        await session.rollback()
        raise AlreadyExistsError(f"participant {participant_id!r} exists already") from exc
    details = {"participant_id": participant_id, "name": name, "organisation": organisation}
    await append_audit(session, "participant_created", actor, details)
    await session.commit()
    return participant


async def get_participant(session: AsyncSession, participant_id: str) -> Participant:
    """The participant with its certificate history, or :class:`NotFoundError`."""
    query = (
        select(Participant)
        .where(Participant.id == participant_id)
        .options(selectinload(Participant.certificates))
    )
    participant = (await session.scalars(query)).first()
    if participant is None:
        raise NotFoundError(f"participant {participant_id!r} not found")
    return participant


async def lock_participant(session: AsyncSession, participant_id: str) -> Participant:
    """The participant row locked for this transaction (enrollment, renewal, revocation)."""
    query = (
        select(Participant)
        .where(Participant.id == participant_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # fresh values, not the identity map's
    )
    participant = (await session.scalars(query)).first()
    if participant is None:
        raise NotFoundError(f"participant {participant_id!r} not found")
    return participant


async def list_participants(
    session: AsyncSession, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Participant]:
    """Participants ordered by id."""
    query = select(Participant).order_by(Participant.id).limit(limit).offset(offset)
    if status:
        query = query.where(Participant.status == status)
    return list((await session.scalars(query)).all())


async def revoke_participant(
    session: AsyncSession,
    participant_id: str,
    *,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> tuple[Participant, int]:
    """Revoke the participant and all its certificates; returns it and how many were revoked."""
    at = _now(now)
    participant = await lock_participant(session, participant_id)
    if participant.status == ParticipantStatus.REVOKED:
        raise StateConflictError(f"participant {participant_id!r} is already revoked")
    participant.status = ParticipantStatus.REVOKED
    participant.revoked_at = at
    participant.revoke_reason = reason
    result = await session.execute(
        update(Certificate)
        .where(Certificate.participant_id == participant_id, Certificate.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(Certificate.serial)
    )
    serials = sorted(result.scalars().all())
    details = {"participant_id": participant_id, "reason": reason, "certificates": serials}
    await append_audit(session, "participant_revoked", actor, details, now=at)
    await session.commit()
    return participant, len(serials)


async def active_participant_ids(
    session: AsyncSession, *, now: datetime | None = None
) -> list[str]:
    """Ids of active participants holding an unexpired, unrevoked certificate, sorted."""
    at = _now(now)
    query = (
        select(Participant.id)
        .join(Certificate, Certificate.participant_id == Participant.id)
        .where(
            Participant.status == ParticipantStatus.ACTIVE,
            Certificate.revoked_at.is_(None),
            Certificate.not_before <= at,
            Certificate.not_after > at,
        )
        .distinct()
        .order_by(Participant.id)
    )
    return list((await session.scalars(query)).all())
