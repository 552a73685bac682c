"""Sealing the job's secret key for one participant, and the dealer's signature, with X.509.

A participant's certificate (issued by the registry's CA, ``CN=<participant id>``) carries a
P-256 key. The dealer seals the secret CKKS context for each recipient with ECIES: an ephemeral
P-256 key agreed with the recipient's certificate key (ECDH), HKDF-SHA256, AES-256-GCM, with
the job, key and recipient bound as associated data. Only the holder of the recipient's private
key (which never leaves the participant) can open it; the coordinator, which relays the sealed
bytes, cannot. The dealer signs the key's id with its own certificate key, so a recipient knows
the key was dealt by a participant of the federation and not made up by the coordinator.

>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> import datetime
>>> ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
>>> ca = issue_for_tests(ca_key, ca_key.public_key(), "test-ca", issuer="test-ca")
>>> cert = issue_for_tests(ca_key, key.public_key(), "h1", issuer="test-ca")
>>> check_participant_certificate(certificate_pem(cert), ca)[1]
'h1'
>>> sealed = seal_for(cert, b"secret", associated=b"job-1")
>>> open_sealed(key, sealed, associated=b"job-1")
b'secret'
>>> open_sealed(key, sealed, associated=b"job-2")
Traceback (most recent call last):
...
consortium_core.homomorphic.errors.KeyExchangeError: the sealed key does not open with this \
participant's key (sealed for someone else, or altered)
"""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from .errors import KeyExchangeError

__all__ = [
    "certificate_pem",
    "check_participant_certificate",
    "issue_for_tests",
    "open_sealed",
    "seal_for",
    "sign",
    "verify_signature",
]

_MAGIC = b"CSK1"
_INFO = b"consortium/he-ckks/secret-key/v1"
_POINT = 65  # an uncompressed P-256 point
_NONCE = 12
SERVICE_PREFIX = "service:"


def seal_for(recipient: x509.Certificate, plaintext: bytes, *, associated: bytes) -> bytes:
    """``plaintext`` sealed so that only ``recipient``'s private key opens it."""
    public = recipient.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeyExchangeError("the recipient's certificate has no P-256 key")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key = _derive(ephemeral.exchange(ec.ECDH(), public), point, associated)
    nonce = os.urandom(_NONCE)
    return _MAGIC + point + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(
    private_key: ec.EllipticCurvePrivateKey, sealed: bytes, *, associated: bytes
) -> bytes:
    """Open what :func:`seal_for` sealed for this key; anything else raises
    :class:`KeyExchangeError`."""
    head = len(_MAGIC)
    if len(sealed) < head + _POINT + _NONCE + 16 or not sealed.startswith(_MAGIC):
        raise KeyExchangeError("not a sealed key")
    point = sealed[head : head + _POINT]
    nonce = sealed[head + _POINT : head + _POINT + _NONCE]
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        key = _derive(private_key.exchange(ec.ECDH(), peer), point, associated)
        return AESGCM(key).decrypt(nonce, sealed[head + _POINT + _NONCE :], associated)
    except (InvalidTag, ValueError) as exc:
        raise KeyExchangeError(
            "the sealed key does not open with this participant's key (sealed for someone "
            "else, or altered)"
        ) from exc


def _derive(shared: bytes, point: bytes, associated: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=point, info=_INFO + b"\0" + associated
    ).derive(shared)


def sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 signature of ``data`` with a participant's certificate key."""
    return private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify_signature(cert: x509.Certificate, signature: bytes, data: bytes) -> None:
    """Raise :class:`KeyExchangeError` unless ``cert``'s key signed ``data``."""
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise KeyExchangeError("the signer's certificate has no EC key")
    try:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise KeyExchangeError("the dealer's signature does not verify") from exc


def certificate_pem(cert: x509.Certificate) -> str:
    """``cert`` as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def check_participant_certificate(
    pem: str | bytes, ca: x509.Certificate, *, now: datetime.datetime | None = None
) -> tuple[x509.Certificate, str]:
    """The certificate and its participant id, if ``ca`` issued it to a participant (not to a
    platform service) and it is valid now; otherwise :class:`KeyExchangeError`."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise KeyExchangeError(f"not a PEM certificate: {exc}") from exc
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise KeyExchangeError("the certificate was not issued by the federation's CA") from exc
    moment = now or datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise KeyExchangeError("the certificate is not valid now (expired or not yet valid)")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    participant = str(names[0].value) if names else ""
    if not participant or participant.startswith(SERVICE_PREFIX):
        raise KeyExchangeError(
            f"the certificate belongs to {participant or 'no one'}, not to a participant"
        )
    return cert, participant


def issue_for_tests(
    ca_key: ec.EllipticCurvePrivateKey,
    public: ec.EllipticCurvePublicKey,
    common_name: str,
    *,
    issuer: str,
) -> x509.Certificate:
    """A one-day certificate signed by ``ca_key`` (doctests and simulations only)."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=common_name == issuer, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
