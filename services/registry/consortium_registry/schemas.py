"""Request and response bodies of the registry's HTTP API (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from consortium_core.contracts.storable import StorableModel
from pydantic import BaseModel, Field

from .db.models import Certificate, Operator, Participant

__all__ = [
    "AuditEntryPublic",
    "AuditVerification",
    "CertificateIssued",
    "CertificatePublic",
    "EnrollRequest",
    "EnrollmentTokenCreate",
    "EnrollmentTokenIssued",
    "LoginRequest",
    "LoginResponse",
    "OperatorCreate",
    "OperatorPublic",
    "ParticipantCreate",
    "ParticipantDetail",
    "ParticipantPublic",
    "RenewRequest",
    "RevocationResult",
    "RevokeRequest",
]

RoleName = Literal["admin", "job_operator", "viewer"]
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"
PARTICIPANT_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
MAX_TOKEN_TTL_S = 30 * 86400


class LoginRequest(StorableModel):
    """An operator's credentials."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class LoginResponse(BaseModel):
    """A bearer token for the ``Authorization`` header."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    username: str
    role: RoleName


class OperatorCreate(StorableModel):
    """A new operator account."""

    username: str = Field(pattern=USERNAME)
    password: str = Field(min_length=12, max_length=1000)
    role: RoleName


class OperatorPublic(BaseModel):
    """An operator account (never its password hash)."""

    username: str
    role: RoleName
    created_at: datetime

    @classmethod
    def of(cls, operator: Operator) -> OperatorPublic:
        return cls(username=operator.username, role=operator.role, created_at=operator.created_at)  # type: ignore[arg-type]


class ParticipantCreate(StorableModel):
    """A participant record; it enrolls later with a token."""

    participant_id: str = Field(pattern=PARTICIPANT_ID, description="also its certificate's CN")
    name: str = Field("", max_length=200)
    organisation: str = Field("", max_length=200)
    contact: str = Field("", max_length=300)


class CertificatePublic(BaseModel):
    """One certificate of a participant's history."""

    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    issued_via: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, cert: Certificate) -> CertificatePublic:
        return cls(
            serial=cert.serial,
            fingerprint_sha256=cert.fingerprint_sha256,
            not_before=cert.not_before,
            not_after=cert.not_after,
            issued_via=cert.issued_via,
            revoked_at=cert.revoked_at,
        )


class ParticipantPublic(BaseModel):
    """A participant as operators see it."""

    participant_id: str
    name: str
    organisation: str
    contact: str
    status: Literal["active", "revoked"]
    created_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None
    last_seen_at: datetime | None = Field(
        None, description="last heartbeat written to the database"
    )
    online: bool | None = Field(None, description="heartbeats now (None: the registry has no NATS)")

    @classmethod
    def fields_of(cls, p: Participant) -> dict[str, Any]:
        return {
            "participant_id": p.id,
            "name": p.name,
            "organisation": p.organisation,
            "contact": p.contact,
            "status": p.status,
            "created_at": p.created_at,
            "revoked_at": p.revoked_at,
            "revoke_reason": p.revoke_reason,
            "last_seen_at": p.last_seen_at,
        }

    @classmethod
    def of(cls, p: Participant) -> ParticipantPublic:
        return cls(**cls.fields_of(p))


class ParticipantDetail(ParticipantPublic):
    """A participant with its certificate history, oldest first."""

    certificates: list[CertificatePublic]


class EnrollmentTokenCreate(StorableModel):
    """Options of a new enrollment token."""

    ttl_s: int | None = Field(
        None, ge=1, le=MAX_TOKEN_TTL_S, description="lifetime; the registry's token_ttl_s if unset"
    )


class EnrollmentTokenIssued(BaseModel):
    """A one-time enrollment token: shown once, only its hash is kept."""

    participant_id: str
    token: str
    expires_at: datetime


class RevokeRequest(StorableModel):
    """Why a participant is cut off (kept in its record and the audit log)."""

    reason: str = Field(min_length=1, max_length=1000)


class RevocationResult(BaseModel):
    """The revoked participant, and whether the broker's authorization was updated."""

    participant: ParticipantPublic
    certificates_revoked: int
    authorization_applied: bool
    authorization_error: str | None = None


class EnrollRequest(StorableModel):
    """A one-time token and a PEM CSR made on the participant's machine."""

    token: str = Field(min_length=1, max_length=200)
    csr_pem: str = Field(min_length=1, max_length=20_000)


class RenewRequest(StorableModel):
    """A PEM CSR, sent over mutual TLS with the participant's current certificate."""

    csr_pem: str = Field(min_length=1, max_length=20_000)


class CertificateIssued(BaseModel):
    """A freshly issued client certificate and the CA that signed it."""

    participant_id: str
    serial: str
    certificate_pem: str
    ca_pem: str
    not_after: datetime


class AuditEntryPublic(BaseModel):
    """One audit log entry, hash-chained to the one before."""

    seq: int
    at: str = Field(description="UTC, ISO 8601 with microseconds and 'Z', as hashed")
    kind: str
    actor: str
    data: Any
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    """The result of recomputing the whole chain."""

    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str
