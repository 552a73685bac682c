"""Enrollment against a real registry process over HTTPS and real Postgres.

Tokens are one-time and expire; the certificate names the participant whatever the CSR says;
bad CSRs are refused without burning the token; revoked participants cannot enroll.
"""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator

import asyncpg
import pytest
from consortium_registry.ca import PARTICIPANT_URI, participant_id_of
from cryptography import x509
from support.registry import Registry, make_csr, running_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(postgres_url, tmp_path_factory.mktemp("registry")) as service:
        yield service


def test_first_start_writes_ca_server_cert_and_admin_password(registry: Registry) -> None:
    for private in (registry.pki_dir / "ca.key", registry.pki_dir / "registry.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(registry.password_file.stat().st_mode) == 0o600
    with registry.client() as http:
        assert http.get("/health").json() == {"status": "ok", "service": "registry"}
        ca_pem = http.get("/ca.pem")
    assert ca_pem.headers["content-type"] == "application/x-pem-file"
    assert ca_pem.content == registry.ca_cert.read_bytes()


def test_enrollment_end_to_end_over_https(registry: Registry) -> None:
    participant_id = registry.new_participant("hospital")
    with registry.admin() as admin:
        issued = admin.post(f"/participants/{participant_id}/enrollment-tokens", json={})
    assert issued.status_code == 201
    token = issued.json()["token"]
    _, csr_pem = make_csr(common_name="admin")  # a forged subject: ignored
    with registry.client() as http:
        response = http.post("/enroll", json={"token": token, "csr_pem": csr_pem})
    assert response.status_code == 201, response.text
    body = response.json()
    cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert body["participant_id"] == participant_id == participant_id_of(cert)
    assert cert.subject.rfc4514_string() == f"CN={participant_id}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        PARTICIPANT_URI + participant_id
    ]
    assert body["ca_pem"].encode() == registry.ca_cert.read_bytes()
    assert registry.ca().issued(cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 86400 <= lifetime.total_seconds() <= 86400 + 120
    assert participant_id in registry.active_participants()
    with registry.admin() as admin:
        detail = admin.get(f"/participants/{participant_id}").json()
    assert [c["serial"] for c in detail["certificates"]] == [body["serial"]]
    assert detail["certificates"][0]["issued_via"] == "enrollment"


def test_a_token_works_once(registry: Registry) -> None:
    participant_id = registry.new_participant()
    token = registry.token_for(participant_id)
    with registry.client() as http:
        first = http.post("/enroll", json={"token": token, "csr_pem": make_csr()[1]})
        second = http.post("/enroll", json={"token": token, "csr_pem": make_csr()[1]})
    assert first.status_code == 201
    assert second.status_code == 410
    assert second.headers["content-type"] == "application/problem+json"
    assert "used already" in second.json()["detail"]


def test_an_expired_token_is_gone(registry: Registry) -> None:
    token = registry.token_for(registry.new_participant(), ttl_s=1)
    time.sleep(1.2)
    with registry.client() as http:
        response = http.post("/enroll", json={"token": token, "csr_pem": make_csr()[1]})
    assert response.status_code == 410 and "expired" in response.json()["detail"]


def test_an_unknown_token_is_unauthorized(registry: Registry) -> None:
    with registry.client() as http:
        response = http.post("/enroll", json={"token": "cet_nope", "csr_pem": make_csr()[1]})
    assert response.status_code == 401 and "unknown enrollment token" in response.json()["detail"]


def test_bad_csrs_are_refused_and_leave_the_token_usable(registry: Registry) -> None:
    token = registry.token_for(registry.new_participant())
    with registry.client() as http:
        rsa = http.post("/enroll", json={"token": token, "csr_pem": make_csr(key_type="rsa")[1]})
        garbage = http.post("/enroll", json={"token": token, "csr_pem": "hello"})
        good = http.post("/enroll", json={"token": token, "csr_pem": make_csr()[1]})
    assert rsa.status_code == 422 and "EC P-256" in rsa.json()["detail"]
    assert garbage.status_code == 422
    assert good.status_code == 201


def test_a_revoked_participant_cannot_enroll_or_get_tokens(registry: Registry) -> None:
    participant_id = registry.new_participant()
    token = registry.token_for(participant_id)
    with registry.admin() as admin:
        revoked = admin.post(f"/participants/{participant_id}/revoke", json={"reason": "test"})
        assert revoked.status_code == 200
        assert revoked.json()["participant"]["status"] == "revoked"
        again = admin.post(f"/participants/{participant_id}/revoke", json={"reason": "twice"})
        assert again.status_code == 409
        no_token = admin.post(f"/participants/{participant_id}/enrollment-tokens", json={})
        assert no_token.status_code == 409
    with registry.client() as http:
        response = http.post("/enroll", json={"token": token, "csr_pem": make_csr()[1]})
    assert response.status_code == 403 and "revoked" in response.json()["detail"]


def test_participant_records(registry: Registry) -> None:
    with registry.admin() as admin:
        created = admin.post(
            "/participants",
            json={
                "participant_id": "clinic-records",
                "name": "Clinic",
                "organisation": "Health Org",
                "contact": "it@clinic.example",
            },
        )
        duplicate = admin.post("/participants", json={"participant_id": "clinic-records"})
        invalid = admin.post("/participants", json={"participant_id": "bad.id"})
        missing = admin.get("/participants/nobody-here")
        listed = admin.get("/participants", params={"status": "active"}).json()
    assert created.status_code == 201 and created.json()["organisation"] == "Health Org"
    assert duplicate.status_code == 409
    assert invalid.status_code == 422
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "clinic-records" in {p["participant_id"] for p in listed}
    assert all(p["status"] == "active" for p in listed)


def test_tokens_are_stored_only_as_hashes(registry: Registry) -> None:
    token = registry.token_for(registry.new_participant())

    async def stored_values() -> list[str]:
        conn = await asyncpg.connect(registry.dsn)
        try:
            rows = await conn.fetch("SELECT * FROM enrollment_tokens")
        finally:
            await conn.close()
        return [str(value) for row in rows for value in row.values()]

    values = asyncio.run(stored_values())
    assert values and not any(token[4:] in value for value in values)
