"""Enrollment and renewal end to end against a tiny local HTTPS registry (see conftest.py)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from consortium_client.enrollment import (
    GatewayUrlError,
    NoTrustAnchorError,
    RegistryRefusedError,
    RegistryUnavailableError,
    api_base,
    enroll,
    problem_detail,
    renew,
)
from consortium_client.identity import (
    AlreadyEnrolledError,
    CertificateMismatchError,
    FingerprintMismatchError,
    UntrustedCertificateError,
    fingerprint_sha256,
    load_identity,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def _enroll(registry, home: Path, ca_file: Path, *, token: str = "t-1", **kwargs):
    return enroll(gateway_url=registry.url, token=token, home=home, ca_cert_path=ca_file, **kwargs)


def test_enroll_with_the_ca_file(registry, ca, ca_file: Path, tmp_path: Path) -> None:
    registry.add_token("t-1", "hospital-1")
    home = tmp_path / "home"
    ident = _enroll(registry, home, ca_file)

    assert ident.participant_id == "hospital-1"
    assert ident.gateway_url == registry.url
    assert stat.S_IMODE((home / "key.pem").stat().st_mode) == 0o600 or os.name == "nt"
    assert (home / "ca.pem").read_text() == ca.pem
    record = json.loads((home / "identity.json").read_text())
    assert record["participant_id"] == "hospital-1"
    assert record["gateway_url"] == registry.url
    assert datetime.fromisoformat(record["not_after"]) == ident.not_after
    assert load_identity(home) == ident

    # What went over the wire: one CSR for our public key, never the private key.
    [(method, path, body)] = registry.state.requests
    assert (method, path) == ("POST", "/api/v1/enroll")
    sent = json.loads(body)
    assert sent["token"] == "t-1"
    csr = x509.load_pem_x509_csr(sent["csr_pem"].encode())
    assert csr.public_key() == ident.certificate.public_key()
    assert b"PRIVATE KEY" not in body
    assert (home / "key.pem").read_bytes().split(b"\n")[1] not in body


def test_enroll_by_fingerprint_fetches_and_pins_the_ca(registry, ca, tmp_path: Path) -> None:
    registry.add_token("t-1", "hospital-2")
    fp = fingerprint_sha256(ca.cert)
    ident = enroll(
        gateway_url=registry.url + "/api/v1/",
        token="t-1",
        home=tmp_path / "home",
        ca_fingerprint=":".join(fp[i : i + 2] for i in range(0, 64, 2)),
    )
    assert ident.participant_id == "hospital-2"
    assert ident.ca_fingerprint == fp
    assert registry.paths_requested() == ["GET /api/v1/ca.pem", "POST /api/v1/enroll"]


def test_a_wrong_fingerprint_stops_before_the_token_is_sent(
    registry, other_ca, tmp_path: Path
) -> None:
    registry.add_token("t-1", "hospital-1")
    with pytest.raises(FingerprintMismatchError):
        enroll(
            gateway_url=registry.url,
            token="t-1",
            home=tmp_path / "home",
            ca_fingerprint=fingerprint_sha256(other_ca.cert),
        )
    assert registry.paths_requested() == ["GET /api/v1/ca.pem"]
    assert not (tmp_path / "home").exists()


def test_an_impostor_gateway_never_sees_the_token(
    impostor_registry, ca_file: Path, tmp_path: Path
) -> None:
    impostor_registry.add_token("t-1", "hospital-1")
    with pytest.raises(UntrustedCertificateError, match="nothing was sent"):
        _enroll(impostor_registry, tmp_path / "home", ca_file)
    assert impostor_registry.state.requests == []


def test_enrollment_needs_exactly_one_trust_anchor(registry, ca_file: Path, tmp_path) -> None:
    with pytest.raises(NoTrustAnchorError, match="--ca-cert"):
        enroll(gateway_url=registry.url, token="t", home=tmp_path / "h")
    with pytest.raises(NoTrustAnchorError, match="not both"):
        enroll(
            gateway_url=registry.url,
            token="t",
            home=tmp_path / "h",
            ca_cert_path=ca_file,
            ca_fingerprint="ab" * 32,
        )
    assert registry.state.requests == []


def test_the_gateway_must_be_https(ca_file: Path, tmp_path: Path) -> None:
    with pytest.raises(GatewayUrlError):
        enroll(gateway_url="http://127.0.0.1:1", token="t", home=tmp_path, ca_cert_path=ca_file)
    assert api_base("https://gw:8443/") == "https://gw:8443/api/v1"


def test_bad_and_used_tokens_show_the_problem_detail(registry, ca_file, tmp_path) -> None:
    with pytest.raises(RegistryRefusedError, match="unknown enrollment token") as bad:
        _enroll(registry, tmp_path / "a", ca_file, token="nope")
    assert bad.value.status == 401
    registry.add_token("t-1", "hospital-1")
    _enroll(registry, tmp_path / "b", ca_file)
    with pytest.raises(RegistryRefusedError, match="already used") as used:
        _enroll(registry, tmp_path / "c", ca_file)
    assert used.value.status == 410 and used.value.title == "Gone"
    assert str(used.value) == "this enrollment token was already used"


def test_a_certificate_for_another_key_is_not_stored(registry, ca_file, tmp_path) -> None:
    registry.add_token("t-1", "hospital-1")
    registry.state.wrong_key = True
    with pytest.raises(CertificateMismatchError, match="another key"):
        _enroll(registry, tmp_path / "home", ca_file)
    assert not (tmp_path / "home" / "cert.pem").exists()
    assert not (tmp_path / "home" / "identity.json").exists()


def test_a_valid_identity_is_not_overwritten(registry, ca_file, tmp_path) -> None:
    registry.add_token("t-1", "hospital-1")
    registry.add_token("t-2", "hospital-1")
    _enroll(registry, tmp_path / "home", ca_file)
    with pytest.raises(AlreadyEnrolledError, match="renews by itself"):
        _enroll(registry, tmp_path / "home", ca_file, token="t-2")
    assert "t-2" not in registry.state.used


def test_an_expired_identity_enrolls_again_with_the_same_key(
    registry, ca, ca_file, tmp_path
) -> None:
    now = datetime.now(UTC)
    home = ca.enrolled_home(
        tmp_path / "home",
        "hospital-1",
        not_before=now - timedelta(days=2),
        not_after=now - timedelta(days=1),
    )
    key_before = (home / "key.pem").read_bytes()
    registry.add_token("t-2", "hospital-1")
    ident = _enroll(registry, home, ca_file, token="t-2")
    assert ident.not_after > now
    assert (home / "key.pem").read_bytes() == key_before


def test_without_home_the_identity_lands_under_the_assigned_id(registry, ca_file, tmp_path) -> None:
    registry.add_token("t-1", "bank-7")
    root = tmp_path / "root"
    ident = enroll(gateway_url=registry.url, token="t-1", ca_cert_path=ca_file, root=root)
    assert ident.home == root / "bank-7"
    assert sorted(p.name for p in root.iterdir()) == ["bank-7"]  # no staging left behind


def test_a_failed_enrollment_without_home_leaves_nothing(registry, ca_file, tmp_path) -> None:
    root = tmp_path / "root"
    with pytest.raises(RegistryRefusedError):
        enroll(gateway_url=registry.url, token="nope", ca_cert_path=ca_file, root=root)
    assert list(root.iterdir()) == []


def test_an_unreachable_gateway_is_a_clear_error(ca_file, tmp_path) -> None:
    with pytest.raises(RegistryUnavailableError, match="not reachable"):
        enroll(
            gateway_url="https://127.0.0.1:9",
            token="t",
            home=tmp_path / "home",
            ca_cert_path=ca_file,
            timeout_s=2,
        )


def test_problem_detail_falls_back_to_title_or_text() -> None:
    def response(status: int, **kw) -> httpx.Response:
        return httpx.Response(status, request=httpx.Request("POST", "https://x"), **kw)

    assert problem_detail(response(401, json={"title": "Unauthorized"})) == "Unauthorized"
    assert problem_detail(response(502, text="bad gateway")) == "bad gateway"
    assert problem_detail(response(500)) == "HTTP 500 Internal Server Error"


# --- renewal -------------------------------------------------------------------------------------


def test_renew_gets_a_new_certificate_for_the_same_key(registry, ca_file, tmp_path) -> None:
    registry.add_token("t-1", "hospital-1")
    first = _enroll(registry, tmp_path / "home", ca_file)
    key_before = (tmp_path / "home" / "key.pem").read_bytes()
    registry.state.lifetime = timedelta(hours=2)
    second = renew(first)
    assert second.participant_id == "hospital-1"
    assert second.certificate.serial_number != first.certificate.serial_number
    assert second.not_after > first.not_after
    assert second.certificate.public_key() == first.certificate.public_key()
    assert (tmp_path / "home" / "key.pem").read_bytes() == key_before
    assert load_identity(tmp_path / "home") == second
    record = json.loads((tmp_path / "home" / "identity.json").read_text())
    assert record["not_after"] == second.not_after.isoformat()


def test_renewal_of_a_revoked_participant_is_refused(registry, ca_file, tmp_path) -> None:
    registry.add_token("t-1", "hospital-1")
    ident = _enroll(registry, tmp_path / "home", ca_file)
    registry.state.revoked.add("hospital-1")
    with pytest.raises(RegistryRefusedError, match="revoked") as refused:
        renew(ident)
    assert refused.value.status == 403
    assert load_identity(tmp_path / "home") == ident  # nothing changed on disk


def test_the_same_ssl_context_presents_the_renewed_certificate(registry, ca_file, tmp_path) -> None:
    """What ``run`` relies on: reload_into makes new handshakes use the renewed certificate."""
    registry.add_token("t-1", "hospital-1")
    first = _enroll(registry, tmp_path / "home", ca_file)
    ctx = first.ssl_context_for_client()

    def presented_serial() -> str:
        with httpx.Client(verify=ctx) as client:  # a new connection each time
            return client.get(f"{registry.url}/api/v1/whoami").json()["serial"]

    assert presented_serial() == str(first.certificate.serial_number)
    second = renew(first)
    second.reload_into(ctx)
    assert presented_serial() == str(second.certificate.serial_number)
    assert (
        second.certificate.public_bytes(serialization.Encoding.PEM)
        == (tmp_path / "home" / "cert.pem").read_bytes()
    )
