"""Participant certificates: issue and record one, and recognise a client by its certificate.

:func:`check_client_certificate` is pure (which CA, which dates, which id);
:func:`identify_client` adds what only the database knows (known serial, not revoked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.ext.asyncio import AsyncSession

from .ca import CertificateAuthority, fingerprint_sha256, participant_id_of, serial_hex
from .db.models import Certificate, Participant, ParticipantStatus
from .errors import CertificateRefusedError

__all__ = [
    "ClientIdentity",
    "check_client_certificate",
    "identify_client",
    "issue_and_record",
]


@dataclass(frozen=True)
class ClientIdentity:
    """A participant proven by a client certificate of ours that is current and not revoked."""

    participant_id: str
    serial: str
    not_after: datetime


def check_client_certificate(
    der: bytes, ca: CertificateAuthority, *, now: datetime | None = None
) -> tuple[x509.Certificate, str]:
    """(certificate, participant id) if ``der`` is a current participant certificate of ``ca``."""
    at = now or datetime.now(UTC)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateRefusedError("the client certificate cannot be parsed") from exc
    if not ca.issued(cert):
        raise CertificateRefusedError("the client certificate was not issued by this registry")
    if at >= cert.not_valid_after_utc:
        raise CertificateRefusedError("the client certificate has expired: enroll again")
    if at < cert.not_valid_before_utc:
        raise CertificateRefusedError("the client certificate is not valid yet")
    try:
        participant_id = participant_id_of(cert)
    except ValueError as exc:
        raise CertificateRefusedError("the client certificate is not a participant's") from exc
    return cert, participant_id


async def identify_client(
    session: AsyncSession, ca: CertificateAuthority, der: bytes, *, now: datetime | None = None
) -> ClientIdentity:
    """The participant behind a TLS client certificate, else :class:`CertificateRefusedError`."""
    cert, participant_id = check_client_certificate(der, ca, now=now)
    row = await session.get(Certificate, serial_hex(cert))
    if row is None or row.participant_id != participant_id:
        raise CertificateRefusedError("the client certificate is unknown to this registry")
    if row.revoked_at is not None:
        raise CertificateRefusedError("the client certificate has been revoked")
    participant = await session.get(Participant, participant_id)
    if participant is None or participant.status != ParticipantStatus.ACTIVE:
        raise CertificateRefusedError(f"participant {participant_id!r} has been revoked")
    return ClientIdentity(participant_id, row.serial, row.not_after)


def issue_and_record(
    session: AsyncSession,
    ca: CertificateAuthority,
    *,
    participant_id: str,
    csr_pem: str,
    lifetime_s: int,
    issued_via: str,
    now: datetime | None = None,
) -> Certificate:
    """Sign the CSR for ``participant_id`` and add the certificate to the session (no commit)."""
    cert = ca.sign_participant_csr(csr_pem, participant_id, lifetime_s, now=now)
    row = Certificate(
        serial=serial_hex(cert),
        participant_id=participant_id,
        fingerprint_sha256=fingerprint_sha256(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issued_via=issued_via,
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
        revoked_at=None,
    )
    session.add(row)
    return row
