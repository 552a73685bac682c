"""Sealing the job's key for one participant's certificate, and checking the dealer."""

from __future__ import annotations

import pytest
from consortium_core.homomorphic import KeyExchangeError
from consortium_core.homomorphic.keywrap import (
    certificate_pem,
    check_participant_certificate,
    issue_for_tests,
    open_sealed,
    seal_for,
    sign,
    verify_signature,
)
from cryptography.hazmat.primitives.asymmetric import ec


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def federation():
    ca_key = _key()
    ca = issue_for_tests(ca_key, ca_key.public_key(), "ca", issuer="ca")
    keys = {name: _key() for name in ("h1", "h2", "service:coordinator")}
    certs = {n: issue_for_tests(ca_key, k.public_key(), n, issuer="ca") for n, k in keys.items()}
    return ca, keys, certs


def test_only_the_recipient_opens_its_sealed_key(federation) -> None:
    _, keys, certs = federation
    sealed = seal_for(certs["h1"], b"secret context", associated=b"job\nkey\nh1")
    assert open_sealed(keys["h1"], sealed, associated=b"job\nkey\nh1") == b"secret context"
    with pytest.raises(KeyExchangeError, match="does not open"):
        open_sealed(keys["h2"], sealed, associated=b"job\nkey\nh1")
    with pytest.raises(KeyExchangeError, match="does not open"):  # bound to job, key, recipient
        open_sealed(keys["h1"], sealed, associated=b"job\nkey\nh2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyExchangeError, match="does not open"):
        open_sealed(keys["h1"], tampered, associated=b"job\nkey\nh1")


def test_certificates_from_another_ca_or_of_a_service_are_refused(federation) -> None:
    ca, _, certs = federation
    assert check_participant_certificate(certificate_pem(certs["h2"]), ca)[1] == "h2"
    with pytest.raises(KeyExchangeError, match="not to a participant"):
        check_participant_certificate(certificate_pem(certs["service:coordinator"]), ca)
    rogue_key = _key()
    rogue = issue_for_tests(rogue_key, rogue_key.public_key(), "h1", issuer="ca")
    with pytest.raises(KeyExchangeError, match="not issued by the federation's CA"):
        check_participant_certificate(certificate_pem(rogue), ca)
    with pytest.raises(KeyExchangeError, match="not a PEM certificate"):
        check_participant_certificate("nonsense", ca)


def test_the_dealer_signature_binds_its_statement(federation) -> None:
    _, keys, certs = federation
    signature = sign(keys["h1"], b"job key k1")
    verify_signature(certs["h1"], signature, b"job key k1")
    with pytest.raises(KeyExchangeError, match="does not verify"):
        verify_signature(certs["h1"], signature, b"job key k2")
    with pytest.raises(KeyExchangeError, match="does not verify"):
        verify_signature(certs["h2"], signature, b"job key k1")
