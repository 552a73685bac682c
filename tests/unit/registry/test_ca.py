"""The internal CA: what it signs, what it refuses, and the files it keeps."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consortium_registry.ca import (
    PARTICIPANT_URI,
    CertificateAuthority,
    load_participant_csr,
    participant_id_of,
    serial_hex,
)
from consortium_registry.errors import InvalidCSRError, InvalidParticipantIdError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def csr_pem(key: object, *names: x509.NameAttribute, sans: list[str] | None = None) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(list(names)))
    if sans:
        san = x509.SubjectAlternativeName([x509.DNSName(s) for s in sans])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)  # type: ignore[arg-type]


def test_ca_certificate_is_a_ten_year_ca(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=3649) < lifetime < timedelta(days=3652)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_forged_subject_and_extensions_are_ignored(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    forged = csr_pem(
        key,
        x509.NameAttribute(NameOID.COMMON_NAME, "service:coordinator"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortium"),
        sans=["registry.example"],
    )
    cert = ca.sign_participant_csr(forged, "hospital-7", 3600)
    assert cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hospital-7")])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        PARTICIPANT_URI + "hospital-7"
    ]
    assert san.get_values_for_type(x509.DNSName) == []
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.public_key() == key.public_key()
    assert participant_id_of(cert) == "hospital-7" and ca.issued(cert)


def test_lifetime_and_random_serials(ca: CertificateAuthority) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    request = csr_pem(key, x509.NameAttribute(NameOID.COMMON_NAME, "x"))
    one = ca.sign_participant_csr(request, "h1", 600, now=now)
    two = ca.sign_participant_csr(request, "h1", 600, now=now)
    assert one.not_valid_after_utc == now + timedelta(seconds=600)
    assert one.not_valid_before_utc <= now
    assert serial_hex(one) != serial_hex(two) and len(serial_hex(one)) == 40


def test_rsa_key_is_refused(ca: CertificateAuthority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    request = csr_pem(key, x509.NameAttribute(NameOID.COMMON_NAME, "x"))
    with pytest.raises(InvalidCSRError, match="EC P-256"):
        ca.sign_participant_csr(request, "h1", 600)


def test_other_curve_is_refused(ca: CertificateAuthority) -> None:
    request = csr_pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(InvalidCSRError, match="secp384r1"):
        ca.sign_participant_csr(request, "h1", 600)


def test_bad_signature_is_refused(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(csr_pem(key, x509.NameAttribute(NameOID.COMMON_NAME, "x")))
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # flip a bit of the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM)
    with pytest.raises(InvalidCSRError, match="signature"):
        ca.sign_participant_csr(tampered, "h1", 600)


def test_swapped_public_key_is_refused(ca: CertificateAuthority) -> None:
    """A CSR signed by one key but carrying another's public key (proof of possession fails)."""
    signer = ec.generate_private_key(ec.SECP256R1())
    victim = ec.generate_private_key(ec.SECP256R1())
    good = x509.load_pem_x509_csr(csr_pem(signer, x509.NameAttribute(NameOID.COMMON_NAME, "x")))
    victim_csr = x509.load_pem_x509_csr(
        csr_pem(victim, x509.NameAttribute(NameOID.COMMON_NAME, "x"))
    )
    der = good.public_bytes(Encoding.DER)
    signer_spki = signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    victim_spki = victim_csr.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    assert signer_spki in der
    swapped = x509.load_der_x509_csr(der.replace(signer_spki, victim_spki))
    with pytest.raises(InvalidCSRError, match="signature"):
        ca.sign_participant_csr(swapped.public_bytes(Encoding.PEM), "h1", 600)


def test_garbage_and_bad_ids_are_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(InvalidCSRError):
        load_participant_csr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")
    request = csr_pem(ec.generate_private_key(ec.SECP256R1()))
    for bad in ("", "a.b", "a b", "-x", "x" * 64, "service:coordinator"):
        with pytest.raises(InvalidParticipantIdError):
            ca.sign_participant_csr(request, bad, 600)


def test_server_certificate_has_dns_and_ip_names(ca: CertificateAuthority) -> None:
    key_pem, cert_pem = ca.issue_server_certificate(["127.0.0.1", "localhost", "nats.internal"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "nats.internal"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert b"PRIVATE KEY" in key_pem and ca.issued(cert)


def test_service_certificate_is_a_client_identity(ca: CertificateAuthority) -> None:
    _, cert_pem = ca.issue_service_certificate("coordinator")
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == "CN=service:coordinator"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(ValueError):
        participant_id_of(cert)  # a service is never a participant
    with pytest.raises(ValueError):
        ca.issue_service_certificate("bad name")


def test_another_ca_does_not_vouch_for_our_certificates(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create(common_name="Consortium CA")  # same name, other key
    request = csr_pem(ec.generate_private_key(ec.SECP256R1()))
    assert not ca.issued(other.sign_participant_csr(request, "h1", 600))


def test_load_or_create_persists_with_private_key_0600(tmp_path: Path) -> None:
    first = CertificateAuthority.load_or_create(tmp_path / "pki")
    again = CertificateAuthority.load_or_create(tmp_path / "pki")
    assert first.certificate == again.certificate
    assert stat.S_IMODE((tmp_path / "pki" / "ca.key").stat().st_mode) == 0o600
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "ca.crt").write_bytes(first.cert_pem)
    with pytest.raises(FileExistsError):
        CertificateAuthority.load_or_create(tmp_path / "half")
