"""SQLAlchemy models of the registry's tables (created by its Alembic migrations only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AuditLogRow",
    "Base",
    "Certificate",
    "EnrollmentToken",
    "Operator",
    "Participant",
    "ParticipantStatus",
    "Role",
]


def _now() -> datetime:
    return datetime.now(UTC)


class ParticipantStatus:
    """A participant is active until an operator revokes it; revocation is final."""

    ACTIVE = "active"
    REVOKED = "revoked"


class Role:
    """Operator roles: admin can do everything; job operators run jobs; viewers only read."""

    ADMIN = "admin"
    JOB_OPERATOR = "job_operator"
    VIEWER = "viewer"
    ALL = (ADMIN, JOB_OPERATOR, VIEWER)


class Base(DeclarativeBase):
    """Declarative base of the registry's models."""


class Participant(Base):
    """An institution taking part in federations, known by its id (its certificates' CN)."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default=ParticipantStatus.ACTIVE, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    certificates: Mapped[list[Certificate]] = relationship(
        back_populates="participant", order_by="Certificate.not_before", lazy="raise"
    )


class Certificate(Base):
    """A client certificate the CA issued to a participant (enrollment or renewal)."""

    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)
    participant_id: Mapped[str] = mapped_column(
        String(63), ForeignKey("participants.id", ondelete="RESTRICT"), index=True
    )
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_via: Mapped[str] = mapped_column(String(16))
    pem: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    participant: Mapped[Participant] = relationship(back_populates="certificates", lazy="raise")


class EnrollmentToken(Base):
    """A one-time enrollment token; only its SHA-256 is stored, never the token."""

    __tablename__ = "enrollment_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[str] = mapped_column(
        String(63), ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Operator(Base):
    """A person who administers the platform through the console or the API."""

    __tablename__ = "operators"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AuditLogRow(Base):
    """One entry of the append-only, hash-chained audit log (a trigger refuses UPDATE/DELETE)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[Any] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    record_id: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    """Id of the published :class:`AuditRecord` chained here (None for the registry's own)."""
