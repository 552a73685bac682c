"""A participant's identity on its own machine: EC P-256 key, certificate, CA, and TLS from them.

A participant home (default ``~/.consortium/<participant>``) holds:

- ``key.pem``: the private key, made here and never sent anywhere; mode 0600 from the moment it
  exists (created with ``O_CREAT | O_EXCL`` and mode 0o600). Like ssh, a key that group or
  others may read is refused.
- ``cert.pem``: the certificate the registry's CA issued for the key (``CN=<participant id>``).
- ``ca.pem``: the CA this participant trusts; the gateway and NATS present certificates from it.
- ``identity.json``: participant id, gateway URL and the certificate's expiry, for people and
  for ``consortium-client run``.

Everything here is local: no network. :mod:`consortium_client.enrollment` talks to the registry.

>>> normalize_fingerprint("SHA256 Fingerprint=AB:CD" + ":00" * 30)
'abcd000000000000000000000000000000000000000000000000000000000000'
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import ssl
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from consortium_core.contracts.node_config import (
    IDENTITY_CA_FILE,
    IDENTITY_CERT_FILE,
    IDENTITY_KEY_FILE,
)
from consortium_core.errors import ConsortiumError
from consortium_core.subjects import check_participant_id
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "CA_FILE",
    "CERT_FILE",
    "DEFAULT_RENEWAL_FRACTION",
    "IDENTITY_FILE",
    "KEY_FILE",
    "AlreadyEnrolledError",
    "CertificateExpiredError",
    "CertificateMismatchError",
    "CorruptIdentityError",
    "FingerprintMismatchError",
    "Identity",
    "IdentityError",
    "InvalidFingerprintError",
    "InvalidParticipantIdError",
    "KeyPermissionsError",
    "NotEnrolledError",
    "UntrustedCertificateError",
    "build_csr",
    "certificate_matches_key",
    "check_ca_certificate",
    "check_fingerprint",
    "check_issued_by",
    "common_name",
    "default_home",
    "default_root",
    "fingerprint_sha256",
    "generate_key",
    "load_identity",
    "load_private_key",
    "normalize_fingerprint",
    "parse_certificate",
    "write_atomic",
    "write_identity",
]

KEY_FILE = IDENTITY_KEY_FILE
CERT_FILE = IDENTITY_CERT_FILE
CA_FILE = IDENTITY_CA_FILE
IDENTITY_FILE = "identity.json"
DEFAULT_RENEWAL_FRACTION = 2 / 3
_IDENTITY_VERSION = 1


class IdentityError(ConsortiumError):
    """Base class of every problem with a participant's identity, local or at the registry."""


class NotEnrolledError(IdentityError):
    """No identity in the participant home: ``consortium-client enroll`` has not been run."""


class AlreadyEnrolledError(IdentityError):
    """The home already holds a valid identity; enrolling again would overwrite it."""


class CorruptIdentityError(IdentityError):
    """A file of the identity exists but cannot be read or parsed."""


class KeyPermissionsError(IdentityError):
    """The private key file may be read by group or others (refused, as ssh does)."""


class CertificateExpiredError(IdentityError):
    """The certificate's validity has ended; the participant must enroll again with a new token."""


class CertificateMismatchError(IdentityError):
    """The certificate is not for this private key (or not for this participant)."""


class UntrustedCertificateError(IdentityError):
    """A certificate is not signed by the trusted CA, or the 'CA' is not a CA certificate."""


class InvalidFingerprintError(IdentityError, ValueError):
    """A CA fingerprint that is not 64 hexadecimal digits (SHA-256)."""


class FingerprintMismatchError(IdentityError):
    """The CA the gateway served does not have the fingerprint the operator handed out."""


class InvalidParticipantIdError(IdentityError, ValueError):
    """A participant id that cannot be a NATS subject token or a directory name."""


# --- paths ---------------------------------------------------------------------------------------


def default_root() -> Path:
    """Where participant homes live unless told otherwise: ``~/.consortium``."""
    return Path.home() / ".consortium"


def default_home(participant_id: str, *, root: Path | None = None) -> Path:
    """The default home of ``participant_id``: ``<root>/<participant id>``."""
    return (root or default_root()) / _checked_participant_id(participant_id)


def _checked_participant_id(participant_id: str) -> str:
    try:
        return check_participant_id(participant_id)
    except ValueError as exc:
        raise InvalidParticipantIdError(str(exc)) from None


def _make_home(home: Path) -> None:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)


# --- files ---------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The temporary file is created with ``mode`` from the start (``O_EXCL``), synced, then renamed
    over ``path``.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CorruptIdentityError(f"{what} is missing: {path}") from None
    except OSError as exc:
        raise CorruptIdentityError(f"cannot read {what} {path}: {exc}") from None


# --- keys and certificates -----------------------------------------------------------------------


def generate_key(home: Path) -> ec.EllipticCurvePrivateKey:
    """Make an EC P-256 key and store it as ``<home>/key.pem``, readable by its owner only.

    The file is created with ``O_CREAT | O_EXCL`` and mode 0o600, so it is never readable by
    others, not even for an instant, and an existing key is never overwritten
    (:class:`AlreadyEnrolledError` if one is there).
    """
    _make_home(home)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = home / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyEnrolledError(f"a private key already exists at {path}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key


def _check_key_permissions(path: Path) -> None:
    if os.name == "nt":  # POSIX modes do not describe Windows ACLs
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyPermissionsError(
            f"permissions {mode:04o} for {path} are too open: the private key must not be "
            f"readable by others. Run: chmod 600 {path}"
        )


def load_private_key(home: Path) -> ec.EllipticCurvePrivateKey:
    """Load ``<home>/key.pem``, refusing it if group or others could read it."""
    path = home / KEY_FILE
    if not path.exists():
        raise NotEnrolledError(f"no private key at {path}")
    _check_key_permissions(path)
    try:
        key = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise CorruptIdentityError(f"{path} is not a readable private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CorruptIdentityError(f"{path} is not an EC private key")
    return key


def build_csr(key: ec.EllipticCurvePrivateKey, participant_id: str | None) -> str:
    """A PEM certificate signing request for ``key`` with ``CN=<participant_id>``.

    The registry's CA ignores the subject (it issues ``CN=<the token's participant>``); without
    a participant id the subject is empty.
    """
    names = []
    if participant_id is not None:
        names.append(
            x509.NameAttribute(NameOID.COMMON_NAME, _checked_participant_id(participant_id))
        )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def parse_certificate(pem: str | bytes, *, what: str = "certificate") -> x509.Certificate:
    """The first certificate in ``pem``; :class:`CorruptIdentityError` if there is none."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CorruptIdentityError(f"the {what} is not a PEM certificate: {exc}") from None


def common_name(cert: x509.Certificate) -> str | None:
    """The subject's common name, or ``None``."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def certificate_matches_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``cert`` certifies the public half of ``key``."""
    return cert.public_key() == key.public_key()


def check_ca_certificate(ca: x509.Certificate) -> x509.Certificate:
    """Return ``ca`` if it is a CA certificate (basic constraints ``CA:TRUE``), else raise."""
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise UntrustedCertificateError(
            f"{ca.subject.rfc4514_string()} is not a CA certificate (no basic constraints CA:TRUE)"
        )
    return ca


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """Raise :class:`UntrustedCertificateError` unless ``ca`` signed ``cert``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise UntrustedCertificateError(
            f"the certificate for {cert.subject.rfc4514_string()} is not signed by the trusted CA "
            f"{ca.subject.rfc4514_string()}: {exc or type(exc).__name__}"
        ) from None


# --- fingerprints --------------------------------------------------------------------------------


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, as 64 lowercase hex digits."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def normalize_fingerprint(text: str) -> str:
    """Lowercase hex without separators; accepts ``AB:CD:..``, ``sha256:abcd..`` and openssl's
    ``SHA256 Fingerprint=AB:CD:..``.

    >>> normalize_fingerprint("sha256:" + "Ab" * 32) == "ab" * 32
    True
    """
    value = text.strip()
    for sep in ("=", "sha256:", "SHA256:"):
        if sep in value:
            value = value.rsplit(sep, 1)[1]
    value = "".join(value.split()).replace(":", "").replace("-", "").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidFingerprintError(
            f"not a SHA-256 fingerprint: {text!r} (expected 64 hex digits, colons allowed)"
        )
    return value


def check_fingerprint(pem: str | bytes, expected: str) -> x509.Certificate:
    """Parse the CA in ``pem`` and return it if its SHA-256 fingerprint is ``expected``.

    This is what makes first contact safe: the CA may be fetched over an unverified connection
    because only the one whose fingerprint the operator handed out is accepted.
    """
    want = normalize_fingerprint(expected)
    ca = parse_certificate(pem, what="CA certificate")
    got = fingerprint_sha256(ca)
    if not hmac.compare_digest(got, want):
        raise FingerprintMismatchError(
            f"the gateway's CA has fingerprint {got}, not the expected {want}: refusing to trust "
            "it (wrong gateway, or someone in between)"
        )
    return ca


# --- the identity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """An enrolled participant: where its files are and what its certificate says."""

    home: Path
    participant_id: str
    gateway_url: str
    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @property
    def key_path(self) -> Path:
        return self.home / KEY_FILE

    @property
    def cert_path(self) -> Path:
        return self.home / CERT_FILE

    @property
    def ca_path(self) -> Path:
        return self.home / CA_FILE

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the participant's certificate."""
        return fingerprint_sha256(self.certificate)

    @property
    def ca_fingerprint(self) -> str:
        """SHA-256 fingerprint of the trusted CA's certificate."""
        return fingerprint_sha256(self.ca_certificate)

    def renewal_due_at(self, fraction: float = DEFAULT_RENEWAL_FRACTION) -> datetime:
        """When ``fraction`` of the certificate's lifetime has passed."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
        return self.not_before + (self.not_after - self.not_before) * fraction

    def needs_renewal(
        self, now: datetime | None = None, fraction: float = DEFAULT_RENEWAL_FRACTION
    ) -> bool:
        """Whether more than ``fraction`` (default 2/3) of the certificate's lifetime is over."""
        return (now or datetime.now(UTC)) >= self.renewal_due_at(fraction)

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.not_after

    def ssl_context_for_client(self, server_hostname_check: bool = True) -> ssl.SSLContext:
        """A TLS 1.2+ client context for NATS and HTTPS: presents this participant's certificate
        and accepts only servers with a certificate from ``ca.pem``.

        The context re-reads the files when :meth:`reload_into` is called after a renewal, so a
        connection that reconnects later presents the new certificate.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = server_hostname_check
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.ca_path))
        self.reload_into(ctx)
        return ctx

    def reload_into(self, ctx: ssl.SSLContext) -> None:
        """Make ``ctx`` present this identity's certificate on its next handshakes."""
        _check_key_permissions(self.key_path)
        ctx.load_cert_chain(certfile=str(self.cert_path), keyfile=str(self.key_path))

    def describe(self) -> dict[str, str]:
        """What a person (or ``--json``) wants to know about this identity."""
        return {
            "participant_id": self.participant_id,
            "gateway_url": self.gateway_url,
            "home": str(self.home),
            "key": str(self.key_path),
            "certificate": str(self.cert_path),
            "ca": str(self.ca_path),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint_sha256": self.fingerprint,
            "ca_fingerprint_sha256": self.ca_fingerprint,
        }


def write_identity(
    home: Path,
    *,
    participant_id: str,
    gateway_url: str,
    certificate_pem: str,
    ca_pem: str | None = None,
) -> None:
    """Store the certificate (and CA), then ``identity.json`` last: it marks the home enrolled."""
    _make_home(home)
    cert = parse_certificate(certificate_pem)
    if ca_pem is not None:
        write_atomic(home / CA_FILE, ca_pem.encode("ascii"))
    write_atomic(home / CERT_FILE, certificate_pem.encode("ascii"))
    record = {
        "version": _IDENTITY_VERSION,
        "participant_id": participant_id,
        "gateway_url": gateway_url,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "certificate_sha256": fingerprint_sha256(cert),
    }
    write_atomic(home / IDENTITY_FILE, (json.dumps(record, indent=2) + "\n").encode())


def load_identity(home: Path, *, now: datetime | None = None) -> Identity:
    """Load and check the identity in ``home``; raise the :class:`IdentityError` that says why not.

    Checks, in order: enrolled at all, key readable by its owner only, certificate for this key,
    certificate signed by ``ca.pem``, participant id consistent, certificate not expired.
    """
    record_path = home / IDENTITY_FILE
    if not record_path.exists():
        raise NotEnrolledError(
            f"no identity in {home}: run `consortium-client enroll --token ... --gateway ...` first"
        )
    try:
        record = json.loads(_read(record_path, "identity record"))
        participant_id = str(record["participant_id"])
        gateway_url = str(record["gateway_url"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptIdentityError(f"{record_path} is not a valid identity record: {exc}") from None
    key = load_private_key(home)
    cert = parse_certificate(_read(home / CERT_FILE, "certificate"))
    ca = parse_certificate(_read(home / CA_FILE, "CA certificate"), what="CA certificate")
    if not certificate_matches_key(cert, key):
        raise CertificateMismatchError(
            f"{home / CERT_FILE} does not match the private key {home / KEY_FILE}"
        )
    check_issued_by(cert, ca)
    if common_name(cert) != participant_id:
        raise CertificateMismatchError(
            f"{home / CERT_FILE} is for {common_name(cert)!r}, but {record_path} says "
            f"{participant_id!r}"
        )
    identity = Identity(
        home=home,
        participant_id=participant_id,
        gateway_url=gateway_url,
        certificate=cert,
        ca_certificate=ca,
    )
    if identity.is_expired(now):
        raise CertificateExpiredError(
            f"the certificate of {participant_id} in {home} expired at "
            f"{identity.not_after.isoformat()}; ask the operator for a new token and enroll again"
        )
    return identity
