"""Enrollment tokens, enrollment and renewal. Each function takes an ``AsyncSession``.

A token is shown once to the operator who creates it; only its SHA-256 is stored. Enrolling
consumes it in the same transaction that records the certificate, under a row lock, so a token
works exactly once even when two requests race. A CSR that is refused leaves the token unused.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .audit_log import append_audit
from .ca import CertificateAuthority
from .certificates import ClientIdentity, issue_and_record
from .db.models import Certificate, EnrollmentToken, ParticipantStatus
from .errors import (
    EnrollmentTokenGoneError,
    EnrollmentTokenUnknownError,
    PermissionDeniedError,
    StateConflictError,
)
from .participants import lock_participant

__all__ = [
    "TOKEN_PREFIX",
    "create_enrollment_token",
    "enroll",
    "hash_token",
    "renew",
]

TOKEN_PREFIX = "cet_"


def hash_token(token: str) -> str:
    """What the database keeps of a token.

    >>> hash_token("cet_abc")[:12]
    'c043d2d0930c'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


async def create_enrollment_token(
    session: AsyncSession,
    participant_id: str,
    *,
    ttl_s: int,
    actor: str,
    now: datetime | None = None,
) -> tuple[str, EnrollmentToken]:
    """A new one-time token for an active participant: (the token itself, its stored record)."""
    at = _now(now)
    participant = await lock_participant(session, participant_id)
    if participant.status != ParticipantStatus.ACTIVE:
        raise StateConflictError(f"participant {participant_id!r} is revoked: no new tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = EnrollmentToken(
        token_sha256=hash_token(token),
        participant_id=participant_id,
        created_by=actor,
        created_at=at,
        expires_at=at + timedelta(seconds=ttl_s),
        used_at=None,
    )
    session.add(record)
    details = {
        "participant_id": participant_id,
        "token_sha256_prefix": record.token_sha256[:12],
        "expires_at": record.expires_at.isoformat(),
    }
    await append_audit(session, "enrollment_token_created", actor, details, now=at)
    await session.commit()
    return token, record


async def enroll(
    session: AsyncSession,
    ca: CertificateAuthority,
    *,
    token: str,
    csr_pem: str,
    lifetime_s: int,
    now: datetime | None = None,
) -> Certificate:
    """Consume ``token`` and issue the participant its certificate from ``csr_pem``."""
    at = _now(now)
    query = (
        select(EnrollmentToken)
        .where(EnrollmentToken.token_sha256 == hash_token(token))
        .with_for_update()
    )
    record = (await session.scalars(query)).first()
    if record is None:
        raise EnrollmentTokenUnknownError("unknown enrollment token: check it or ask for a new one")
    if record.used_at is not None:
        raise EnrollmentTokenGoneError(
            "this enrollment token has been used already: ask an operator for a new one"
        )
    if record.expires_at <= at:
        raise EnrollmentTokenGoneError(
            "this enrollment token has expired: ask an operator for a new one"
        )
    participant = await lock_participant(session, record.participant_id)
    if participant.status != ParticipantStatus.ACTIVE:
        raise PermissionDeniedError(f"participant {participant.id!r} has been revoked")
    cert = issue_and_record(
        session,
        ca,
        participant_id=participant.id,
        csr_pem=csr_pem,
        lifetime_s=lifetime_s,
        issued_via="enrollment",
        now=at,
    )
    record.used_at = at
    await session.flush()
    details = {
        "participant_id": participant.id,
        "serial": cert.serial,
        "fingerprint_sha256": cert.fingerprint_sha256,
        "not_after": cert.not_after.isoformat(),
    }
    await append_audit(session, "participant_enrolled", f"participant:{participant.id}", details)
    await session.commit()
    return cert


async def renew(
    session: AsyncSession,
    ca: CertificateAuthority,
    identity: ClientIdentity,
    *,
    csr_pem: str,
    lifetime_s: int,
    now: datetime | None = None,
) -> Certificate:
    """A new certificate for a participant proven by its current one (checked by the caller).

    The current certificate stays valid until it expires, so the client can switch over
    without a gap.
    """
    at = _now(now)
    participant = await lock_participant(session, identity.participant_id)
    current = await session.get(
        Certificate, identity.serial, with_for_update=True, populate_existing=True
    )
    if participant.status != ParticipantStatus.ACTIVE or current is None or current.revoked_at:
        raise PermissionDeniedError(f"participant {identity.participant_id!r} has been revoked")
    cert = issue_and_record(
        session,
        ca,
        participant_id=participant.id,
        csr_pem=csr_pem,
        lifetime_s=lifetime_s,
        issued_via="renewal",
        now=at,
    )
    await session.flush()
    details = {
        "participant_id": participant.id,
        "serial": cert.serial,
        "previous_serial": identity.serial,
        "fingerprint_sha256": cert.fingerprint_sha256,
        "not_after": cert.not_after.isoformat(),
    }
    await append_audit(session, "certificate_renewed", f"participant:{participant.id}", details)
    await session.commit()
    return cert
