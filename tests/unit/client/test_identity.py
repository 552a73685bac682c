"""The participant's identity on disk: key file mode, CSR, loading checks, renewal timing, pins."""

from __future__ import annotations

import json
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consortium_client import identity as identity_mod
from consortium_client.identity import (
    AlreadyEnrolledError,
    CertificateExpiredError,
    CertificateMismatchError,
    FingerprintMismatchError,
    InvalidFingerprintError,
    InvalidParticipantIdError,
    KeyPermissionsError,
    NotEnrolledError,
    UntrustedCertificateError,
    build_csr,
    check_ca_certificate,
    check_fingerprint,
    default_home,
    fingerprint_sha256,
    generate_key,
    load_identity,
    normalize_fingerprint,
    write_identity,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the key -------------------------------------------------------------------------------------


@posix_only
def test_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        generate_key(tmp_path / "p1")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "p1" / "key.pem") == 0o600
    assert _mode(tmp_path / "p1") == 0o700


@posix_only
def test_key_file_is_created_exclusively_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mode is given to open() itself: there is no moment with a wider mode (no chmod)."""
    calls: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: os.PathLike[str] | str, flags: int, mode: int = 0o777) -> int:
        calls.append((str(path), flags, mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(identity_mod.os, "open", spy)
    generate_key(tmp_path)
    key_calls = [c for c in calls if c[0].endswith("key.pem")]
    assert len(key_calls) == 1
    _path, flags, mode = key_calls[0]
    assert flags & os.O_CREAT and flags & os.O_EXCL
    assert mode == 0o600


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    generate_key(tmp_path)
    before = (tmp_path / "key.pem").read_bytes()
    with pytest.raises(AlreadyEnrolledError):
        generate_key(tmp_path)
    assert (tmp_path / "key.pem").read_bytes() == before


def test_key_is_ec_p256_pkcs8(tmp_path: Path) -> None:
    key = generate_key(tmp_path)
    assert isinstance(key.curve, ec.SECP256R1)
    assert (tmp_path / "key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


# --- the CSR -------------------------------------------------------------------------------------


def test_csr_verifies_and_carries_the_participant_id(tmp_path: Path) -> None:
    key = generate_key(tmp_path)
    csr = x509.load_pem_x509_csr(build_csr(key, "hospital-1").encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hospital-1"
    assert csr.public_key() == key.public_key()
    # The CSR carries only the public key.
    private_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert private_der not in csr.public_bytes(serialization.Encoding.DER)


def test_csr_without_participant_id_has_an_empty_subject(tmp_path: Path) -> None:
    csr = x509.load_pem_x509_csr(build_csr(generate_key(tmp_path), None).encode())
    assert csr.is_signature_valid and len(csr.subject) == 0


def test_participant_id_must_be_a_subject_token(tmp_path: Path) -> None:
    with pytest.raises(InvalidParticipantIdError):
        build_csr(generate_key(tmp_path), "a.b")
    with pytest.raises(InvalidParticipantIdError):
        default_home("../escape")


# --- loading -------------------------------------------------------------------------------------


def test_load_identity_of_a_fresh_enrollment(ca, tmp_path: Path) -> None:
    home = ca.enrolled_home(tmp_path / "p1", "p1")
    ident = load_identity(home)
    assert ident.participant_id == "p1"
    assert ident.key_path == home / "key.pem"
    record = json.loads((home / "identity.json").read_text())
    assert record["participant_id"] == "p1"
    assert record["not_after"] == ident.not_after.isoformat()
    assert ident.describe()["fingerprint_sha256"] == fingerprint_sha256(ident.certificate)


def test_not_enrolled_says_to_run_enroll(tmp_path: Path) -> None:
    with pytest.raises(NotEnrolledError, match="consortium-client enroll"):
        load_identity(tmp_path / "nobody")


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_readable_by_others_is_refused(ca, tmp_path: Path, mode: int) -> None:
    home = ca.enrolled_home(tmp_path, "p1")
    os.chmod(home / "key.pem", mode)
    with pytest.raises(KeyPermissionsError, match="chmod 600"):
        load_identity(home)


def test_a_certificate_for_another_key_is_refused(ca, tmp_path: Path) -> None:
    home = ca.enrolled_home(tmp_path, "p1")
    stranger = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(stranger.public_key(), "p1")
    (home / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateMismatchError, match="does not match the private key"):
        load_identity(home)


def test_a_certificate_from_another_ca_is_refused(ca, other_ca, tmp_path: Path) -> None:
    home = ca.enrolled_home(tmp_path, "p1")
    key = serialization.load_pem_private_key((home / "key.pem").read_bytes(), None)
    cert = other_ca.issue(key.public_key(), "p1")
    (home / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(UntrustedCertificateError):
        load_identity(home)


def test_an_expired_certificate_is_refused(ca, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    home = ca.enrolled_home(
        tmp_path, "p1", not_before=now - timedelta(days=2), not_after=now - timedelta(days=1)
    )
    with pytest.raises(CertificateExpiredError, match="enroll again"):
        load_identity(home)
    # ... and the check uses the given clock.
    assert load_identity(home, now=now - timedelta(days=1, hours=1)).participant_id == "p1"


def test_identity_record_and_certificate_must_agree(ca, tmp_path: Path) -> None:
    home = ca.enrolled_home(tmp_path, "p1")
    record = json.loads((home / "identity.json").read_text())
    record["participant_id"] = "p2"
    (home / "identity.json").write_text(json.dumps(record))
    with pytest.raises(CertificateMismatchError, match="'p1'"):
        load_identity(home)


def test_write_identity_leaves_no_temporary_files(ca, tmp_path: Path) -> None:
    home = ca.enrolled_home(tmp_path, "p1")
    pem = (home / "cert.pem").read_text()
    write_identity(home, participant_id="p1", gateway_url="https://g", certificate_pem=pem)
    assert sorted(p.name for p in home.iterdir()) == [
        "ca.pem",
        "cert.pem",
        "identity.json",
        "key.pem",
    ]


# --- renewal timing ------------------------------------------------------------------------------


def test_needs_renewal_after_two_thirds_of_the_lifetime(ca, tmp_path: Path) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    home = ca.enrolled_home(tmp_path, "p1", not_before=start, not_after=start + timedelta(hours=3))
    ident = load_identity(home, now=start)
    assert ident.renewal_due_at() == start + timedelta(hours=2)
    assert not ident.needs_renewal(start)
    assert not ident.needs_renewal(start + timedelta(hours=1, minutes=59))
    assert ident.needs_renewal(start + timedelta(hours=2))
    assert ident.needs_renewal(start + timedelta(hours=2, minutes=30))
    assert not ident.needs_renewal(start + timedelta(hours=2), fraction=0.9)
    assert ident.needs_renewal(start + timedelta(hours=1), fraction=0.3)
    with pytest.raises(ValueError):
        ident.needs_renewal(start, fraction=1.5)


# --- TLS context ---------------------------------------------------------------------------------


def test_ssl_context_for_client(ca, tmp_path: Path) -> None:
    ident = load_identity(ca.enrolled_home(tmp_path, "p1"))
    ctx = ident.ssl_context_for_client()
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in ctx.get_ca_certs()] == [
        ((("commonName", "Consortium Test CA"),),)
    ]
    assert not ident.ssl_context_for_client(server_hostname_check=False).check_hostname


# --- fingerprint pinning -------------------------------------------------------------------------


def test_fingerprint_pinning_accepts_only_the_expected_ca(ca, other_ca) -> None:
    want = fingerprint_sha256(ca.cert)
    colon_upper = ":".join(want[i : i + 2] for i in range(0, 64, 2)).upper()
    for spelling in (want, want.upper(), colon_upper, f"SHA256 Fingerprint={colon_upper}"):
        assert check_fingerprint(ca.pem, spelling) == ca.cert
    with pytest.raises(FingerprintMismatchError, match="refusing to trust"):
        check_fingerprint(other_ca.pem, want)


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 32, "ab" * 31, "ab" * 33])
def test_a_malformed_fingerprint_is_refused(bad: str) -> None:
    with pytest.raises(InvalidFingerprintError):
        normalize_fingerprint(bad)


def test_a_leaf_certificate_is_not_a_ca(ca) -> None:
    leaf = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "p1")
    with pytest.raises(UntrustedCertificateError, match="not a CA"):
        check_ca_certificate(leaf)
    assert check_ca_certificate(ca.cert) is ca.cert
