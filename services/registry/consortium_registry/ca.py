"""The registry's internal certificate authority (EC P-256).

Participants make their key pair on their own machine and send a CSR; the CA checks the CSR's
signature and key type, ignores whatever subject it asks for, and issues a short-lived client
certificate whose only subject is ``CN=<participant id>``. Servers (NATS, HTTPS) and services
(the coordinator connecting to NATS) get certificates from the same CA.

>>> ca = CertificateAuthority.create()
>>> key = ec.generate_private_key(ec.SECP256R1())
>>> forged = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
>>> csr = x509.CertificateSigningRequestBuilder().subject_name(forged).sign(key, hashes.SHA256())
>>> cert = ca.sign_participant_csr(csr.public_bytes(Encoding.PEM), "hospital-1", 3600)
>>> cert.subject.rfc4514_string()
'CN=hospital-1'
>>> participant_id_of(cert)
'hospital-1'
>>> ca.issued(cert)
True
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consortium_core.subjects import check_participant_id
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import InvalidCSRError, InvalidParticipantIdError
from .files import directory_lock, write_private, write_public

__all__ = [
    "CA_LIFETIME_S",
    "CertificateAuthority",
    "fingerprint_sha256",
    "load_participant_csr",
    "participant_id_of",
    "serial_hex",
]

log = logging.getLogger(__name__)

CA_LIFETIME_S = 10 * 365 * 86400
SERVER_LIFETIME_S = 365 * 86400
CLOCK_SKEW = timedelta(minutes=1)
PARTICIPANT_URI = "urn:consortium:participant:"
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def serial_hex(cert: x509.Certificate) -> str:
    """The certificate's serial number as 40 lower-case hex digits (the registry's key)."""
    return f"{cert.serial_number:040x}"


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def participant_id_of(cert: x509.Certificate) -> str:
    """The participant id in a certificate's subject CN (raises ``ValueError`` if absent)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str):
        raise ValueError("certificate has no single common name")
    return check_participant_id(names[0].value)


def load_participant_csr(csr_pem: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and require a valid self-signature over an EC P-256 key.

    >>> load_participant_csr(b"not a csr")
    Traceback (most recent call last):
    ...
    consortium_registry.errors.InvalidCSRError: not a PEM certificate signing request
    """
    data = csr_pem.encode("ascii", "replace") if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise InvalidCSRError("not a PEM certificate signing request") from exc
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidCSRError(
            f"the CSR's key must be EC P-256 (secp256r1), not {type(key).__name__}"
            + (f" on {key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey) else "")
        )
    try:
        valid = csr.is_signature_valid
    except (ValueError, InvalidSignature):  # pragma: no cover - cryptography returns False
        valid = False
    if not valid:
        raise InvalidCSRError("the CSR's signature does not verify: it was altered or forged")
    return csr


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _subject_alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


class CertificateAuthority:
    """An EC P-256 CA: a private key and its self-signed certificate."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate

    @classmethod
    def create(
        cls,
        *,
        common_name: str = "Consortium CA",
        lifetime_s: int = CA_LIFETIME_S,
        now: datetime | None = None,
    ) -> CertificateAuthority:
        """A new CA with a fresh key (nothing is written)."""
        start = _now(now)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortium"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - CLOCK_SKEW)
            .not_valid_after(start + timedelta(seconds=lifetime_s))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> CertificateAuthority:
        """A CA from its PEM key and certificate."""
        key = load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an EC key")
        return cls(key, x509.load_pem_x509_certificate(cert_pem))

    @classmethod
    def load_or_create(cls, directory: Path | str) -> CertificateAuthority:
        """The CA in ``directory`` (``ca.key`` 0600, ``ca.crt``), created on first use."""
        directory = Path(directory)
        key_path, cert_path = directory / "ca.key", directory / "ca.crt"
        with directory_lock(directory):
            if key_path.exists() and cert_path.exists():
                return cls.from_pem(key_path.read_bytes(), cert_path.read_bytes())
            if key_path.exists() or cert_path.exists():
                raise FileExistsError(f"{directory} holds only half of a CA (ca.key / ca.crt)")
            ca = cls.create()
            write_private(key_path, _key_pem(ca.key))
            write_public(cert_path, ca.cert_pem)
            log.info("created a new CA in %s", directory)
            return ca

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM: what every party trusts."""
        return self.certificate.public_bytes(Encoding.PEM)

    def issued(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` carries a valid signature by this CA (validity dates not checked)."""
        try:
            cert.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def _builder(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, start: datetime, life: int
    ) -> x509.CertificateBuilder:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - CLOCK_SKEW)
            .not_valid_after(start + timedelta(seconds=life))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(aki, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    def sign_participant_csr(
        self,
        csr_pem: bytes | str,
        participant_id: str,
        lifetime_s: int,
        *,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """A client certificate for ``participant_id`` from its CSR; the CSR's subject is ignored.

        ``now`` moves the validity window (tests issue expired certificates with it).
        """
        try:
            check_participant_id(participant_id)
        except ValueError as exc:
            raise InvalidParticipantIdError(str(exc)) from exc
        csr = load_participant_csr(csr_pem)
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, participant_id)])
        san = x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(PARTICIPANT_URI + participant_id)]
        )
        return (
            self._builder(subject, public_key, _now(now), lifetime_s)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(san, critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue_server_certificate(
        self, hosts: list[str], *, lifetime_s: int = SERVER_LIFETIME_S, now: datetime | None = None
    ) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM) for a TLS server reachable under ``hosts`` (DNS or IP)."""
        if not hosts:
            raise ValueError("a server certificate needs at least one host name or address")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        cert = (
            self._builder(subject, key.public_key(), _now(now), lifetime_s)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(_subject_alt_names(hosts)), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return _key_pem(key), cert.public_bytes(Encoding.PEM)

    def issue_service_certificate(
        self, name: str, *, lifetime_s: int = SERVER_LIFETIME_S, now: datetime | None = None
    ) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM) of a platform service's client identity ``service:<name>``."""
        if not _SERVICE_NAME.match(name):
            raise ValueError(f"invalid service name {name!r}")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"service:{name}")])
        san = x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(f"urn:consortium:service:{name}")]
        )
        cert = (
            self._builder(subject, key.public_key(), _now(now), lifetime_s)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(san, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return _key_pem(key), cert.public_bytes(Encoding.PEM)
