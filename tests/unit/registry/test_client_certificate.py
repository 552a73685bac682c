"""Recognising a participant by its client certificate (the pure part of ``CurrentParticipant``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from consortium_registry.ca import CertificateAuthority
from consortium_registry.certificates import check_client_certificate
from consortium_registry.errors import CertificateRefusedError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from support.registry import make_csr

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def der_for(ca: CertificateAuthority, participant_id: str = "h1", **kwargs: object) -> bytes:
    _, csr = make_csr()
    cert = ca.sign_participant_csr(csr, participant_id, 3600, **kwargs)  # type: ignore[arg-type]
    return cert.public_bytes(Encoding.DER)


def test_a_current_certificate_of_ours_names_its_participant(ca: CertificateAuthority) -> None:
    cert, participant_id = check_client_certificate(der_for(ca, now=NOW), ca, now=NOW)
    assert participant_id == "h1" and isinstance(cert, x509.Certificate)


@pytest.mark.parametrize(
    "when,message",
    [(NOW + timedelta(hours=2), "expired"), (NOW - timedelta(hours=1), "not valid yet")],
)
def test_outside_its_validity_it_is_refused(
    ca: CertificateAuthority, when: datetime, message: str
) -> None:
    with pytest.raises(CertificateRefusedError, match=message):
        check_client_certificate(der_for(ca, now=NOW), ca, now=when)


def test_another_cas_certificate_is_refused(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create()
    with pytest.raises(CertificateRefusedError, match="not issued by this registry"):
        check_client_certificate(der_for(other, now=NOW), ca, now=NOW)


def test_service_certificates_and_garbage_are_refused(ca: CertificateAuthority) -> None:
    _, pem = ca.issue_service_certificate("coordinator", now=NOW)
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    with pytest.raises(CertificateRefusedError, match="not a participant"):
        check_client_certificate(der, ca, now=NOW)
    with pytest.raises(CertificateRefusedError, match="cannot be parsed"):
        check_client_certificate(b"\x30\x03junk", ca, now=NOW)
