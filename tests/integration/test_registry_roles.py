"""Operators and roles against a real registry: who may read, who may change, who may log in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support.registry import Registry, running_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(postgres_url, tmp_path_factory.mktemp("registry")) as service:
        yield service


def test_requests_without_a_valid_bearer_token_are_unauthorized(registry: Registry) -> None:
    with registry.client() as anonymous:
        response = anonymous.get("/participants")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    with registry.client(token="v1.e30.forged") as forged:
        assert forged.get("/audit").status_code == 401


def test_wrong_passwords_and_unknown_users_get_the_same_answer(registry: Registry) -> None:
    with registry.client() as http:
        wrong = http.post("/auth/login", json={"username": "admin", "password": "nope"})
        unknown = http.post("/auth/login", json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


@pytest.mark.parametrize("role", ["viewer", "job_operator"])
def test_non_admins_read_but_cannot_change_anything(registry: Registry, role: str) -> None:
    participant_id = registry.new_participant("target")
    with registry.operator(f"{role}-{uuid.uuid4().hex[:6]}", role) as operator:
        assert operator.get("/auth/me").json()["role"] == role
        assert operator.get("/participants").status_code == 200
        assert operator.get(f"/participants/{participant_id}").status_code == 200
        assert operator.get("/audit").status_code == 200
        assert operator.get("/audit/verify").json()["ok"]
        revoke = operator.post(f"/participants/{participant_id}/revoke", json={"reason": "x"})
        token = operator.post(f"/participants/{participant_id}/enrollment-tokens", json={})
        create = operator.post("/participants", json={"participant_id": f"x-{role}"})
        account = operator.post(
            "/operators",
            json={"username": f"sneaky-{role}", "password": "a" * 20, "role": "admin"},
        )
    for refused in (revoke, token, create, account):
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert "admin" in revoke.json()["detail"]
    with registry.admin() as admin:
        assert admin.get(f"/participants/{participant_id}").json()["status"] == "active"


def test_operator_accounts(registry: Registry) -> None:
    with registry.admin() as admin:
        first = admin.post(
            "/operators", json={"username": "carol", "password": "c" * 16, "role": "viewer"}
        )
        again = admin.post(
            "/operators", json={"username": "carol", "password": "c" * 16, "role": "viewer"}
        )
        short = admin.post(
            "/operators", json={"username": "dave", "password": "short", "role": "viewer"}
        )
        bad_role = admin.post(
            "/operators", json={"username": "erin", "password": "e" * 16, "role": "root"}
        )
        names = {o["username"]: o["role"] for o in admin.get("/operators").json()}
    assert first.status_code == 201 and "password" not in first.text
    assert again.status_code == 409
    assert short.status_code == 422 and bad_role.status_code == 422
    assert names["admin"] == "admin" and names["carol"] == "viewer"


def test_plain_http_never_identifies_a_participant(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With ``tls=False`` operators still work, and renewal always asks for a certificate."""
    workdir = tmp_path_factory.mktemp("plain")
    with running_registry(postgres_url, workdir, tls=False) as plain:
        assert plain.base_url.startswith("http://")
        with plain.admin() as admin:
            assert admin.get("/participants").status_code == 200
        with plain.client() as http:
            response = http.post("/certificates/renew", json={"csr_pem": "x"})
        assert response.status_code == 401


def test_a_second_replica_shares_ca_admin_and_session_secret(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same database and PKI directory: no second CA, no second admin, tokens valid on both."""
    password = registry.password_file.read_text()
    ca_pem = registry.ca_cert.read_bytes()
    replica = Registry(
        tmp_path_factory.mktemp("replica"),
        database_url=registry.database_url,
        pki_dir=registry.pki_dir,
        admin_password_file=str(registry.password_file),
    )
    try:
        replica.wait_healthy()
        token = registry.login("admin", password.strip())
        with replica.client(token=token) as on_replica:
            assert on_replica.get("/auth/me").json()["username"] == "admin"
            assert on_replica.get("/ca.pem").content == ca_pem
    finally:
        replica.stop()
    assert registry.password_file.read_text() == password
    assert registry.ca_cert.read_bytes() == ca_pem
