"""Certificate renewal over mutual TLS against a real registry process and real Postgres.

A valid client certificate renews; no certificate, another CA's, an expired one, a revoked one
and one of ours that the registry never recorded are refused. Another CA's and expired
certificates fail in the TLS handshake (OpenSSL verifies the chain and dates; the server closes
the connection before any HTTP response); the others reach the app and get a problem response.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from consortium_registry.ca import CertificateAuthority, participant_id_of
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client.parser import text_string_to_metric_families
from support.registry import Registry, make_csr, running_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("registry")
    with running_registry(postgres_url, workdir, metrics_refresh_s="0.3") as service:
        yield service


def renew(
    registry: Registry, cert_pem: bytes | str | None, key_pem: bytes | None
) -> httpx.Response:
    with registry.client(cert_pem=cert_pem, key_pem=key_pem) as http:
        return http.post("/certificates/renew", json={"csr_pem": make_csr("forged")[1]})


def assert_handshake_refused(registry: Registry, cert_pem: bytes, key_pem: bytes) -> None:
    with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        renew(registry, cert_pem, key_pem)


def test_a_valid_certificate_renews(registry: Registry) -> None:
    participant_id, key_pem, cert_pem = registry.enroll_new("renewer")
    response = renew(registry, cert_pem, key_pem)
    assert response.status_code == 201, response.text
    body = response.json()
    new_cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert participant_id_of(new_cert) == participant_id == body["participant_id"]
    assert new_cert.subject.rfc4514_string() == f"CN={participant_id}"
    with registry.admin() as admin:
        history = admin.get(f"/participants/{participant_id}").json()["certificates"]
    assert [c["issued_via"] for c in history] == ["enrollment", "renewal"]
    # the old certificate stays valid until it expires, so a client can switch without a gap
    assert renew(registry, cert_pem, key_pem).status_code == 201


def test_the_renewed_certificate_renews_in_turn(registry: Registry) -> None:
    participant_id, key_pem, cert_pem = registry.enroll_new("chain")
    new_key, csr = make_csr()
    with registry.client(cert_pem=cert_pem, key_pem=key_pem) as http:
        first = http.post("/certificates/renew", json={"csr_pem": csr})
    assert first.status_code == 201
    second = renew(registry, first.json()["certificate_pem"], new_key)
    assert second.status_code == 201 and second.json()["participant_id"] == participant_id


def test_no_certificate_is_refused(registry: Registry) -> None:
    response = renew(registry, None, None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "client certificate" in response.json()["detail"]


def test_a_certificate_from_another_ca_is_refused_in_the_handshake(registry: Registry) -> None:
    participant_id, _, _ = registry.enroll_new("foreign")
    impostor = CertificateAuthority.create(common_name="Consortium CA")  # same name, other key
    key, csr = make_csr()
    foreign = impostor.sign_participant_csr(csr, participant_id, 3600)
    assert_handshake_refused(registry, foreign.public_bytes(Encoding.PEM), key)
    assert renew(registry, *_valid(registry)).status_code == 201  # the server is fine


def test_an_expired_certificate_is_refused_in_the_handshake(registry: Registry) -> None:
    participant_id, _, _ = registry.enroll_new("expired")
    key, csr = make_csr()
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    expired = registry.ca().sign_participant_csr(csr, participant_id, 3600, now=two_days_ago)
    assert expired.not_valid_after_utc < datetime.now(UTC)
    assert_handshake_refused(registry, expired.public_bytes(Encoding.PEM), key)


def test_a_revoked_certificate_is_refused(registry: Registry) -> None:
    participant_id, key_pem, cert_pem = registry.enroll_new("revoked")
    assert renew(registry, cert_pem, key_pem).status_code == 201
    with registry.admin() as admin:
        result = admin.post(f"/participants/{participant_id}/revoke", json={"reason": "stolen key"})
    assert result.status_code == 200
    assert result.json()["certificates_revoked"] == 2
    assert result.json()["authorization_applied"] is True
    assert participant_id not in registry.active_participants()
    response = renew(registry, cert_pem, key_pem)
    assert response.status_code == 403 and "revoked" in response.json()["detail"]


def test_an_unrecorded_certificate_of_our_ca_is_refused(registry: Registry) -> None:
    participant_id, _, _ = registry.enroll_new("unrecorded")
    key, csr = make_csr()
    stray = registry.ca().sign_participant_csr(csr, participant_id, 3600)
    response = renew(registry, stray.public_bytes(Encoding.PEM), key)
    assert response.status_code == 403 and "unknown" in response.json()["detail"]


def _valid(registry: Registry) -> tuple[str, bytes]:
    _, key_pem, cert_pem = registry.enroll_new("control")
    return cert_pem, key_pem


def test_prometheus_metrics_count_requests_by_route_template(registry: Registry) -> None:
    renew(registry, None, None)  # a refused request: 401
    root = registry.base_url.removesuffix("/api/v1")
    with registry.client() as http:
        text = http.get(root + "/metrics").text
    assert (
        'consortium_http_requests_total{method="POST",route="/api/v1/certificates/renew",'
        'service="registry",status="401"}'
    ) in text
    assert (
        'consortium_http_request_duration_seconds_count{method="GET",route="/api/v1/health"' in text
    )


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
AUDIT = ("consortium_audit_records_appended_total", ())


def _settled_scrape(registry: Registry, admin: httpx.Client, timeout: float = 10) -> Samples:
    """A scrape whose counts reflect the database now: its audit count (refreshed together with
    the others) equals the number of entries in the log; every change here is audited."""
    entries = admin.get("/audit/verify").json()["checked"]
    root = registry.base_url.removesuffix("/api/v1")
    deadline = time.monotonic() + timeout
    while True:
        with registry.client() as http:
            text = http.get(root + "/metrics").text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        if samples.get(AUDIT) == entries or time.monotonic() > deadline:
            assert samples.get(AUDIT) == entries, (samples.get(AUDIT), entries)
            return samples
        time.sleep(0.2)


def test_prometheus_metrics_count_participants_certificates_and_audit(registry: Registry) -> None:
    def changes(before: Samples, after: Samples) -> dict[str, float]:
        return {
            f"{name}:{value}": after.get(key, 0.0) - before.get(key, 0.0)
            for name, label, value in (
                ("consortium_participants", "state", "enrolled"),
                ("consortium_participants", "state", "pending"),
                ("consortium_participants", "state", "revoked"),
                ("consortium_certificates_issued_total", "via", "enrollment"),
                ("consortium_certificates_issued_total", "via", "renewal"),
            )
            for key in [(name, ((label, value),))]
        }

    with registry.admin() as admin:
        before = _settled_scrape(registry, admin)
        participant_id, key_pem, cert_pem = registry.enroll_new("counted")
        registry.new_participant("waiting")  # registered, never enrolled
        assert renew(registry, cert_pem, key_pem).status_code == 201
        enrolled = _settled_scrape(registry, admin)
        assert changes(before, enrolled) == {
            "consortium_participants:enrolled": 1,
            "consortium_participants:pending": 1,
            "consortium_participants:revoked": 0,
            "consortium_certificates_issued_total:enrollment": 1,
            "consortium_certificates_issued_total:renewal": 1,
        }
        # created, token, enrolled, renewed, created
        assert enrolled[AUDIT] - before[AUDIT] == 5
        revoke = admin.post(f"/participants/{participant_id}/revoke", json={"reason": "gone"})
        assert revoke.status_code == 200
        revoked = _settled_scrape(registry, admin)
    assert changes(enrolled, revoked)["consortium_participants:enrolled"] == -1
    assert changes(enrolled, revoked)["consortium_participants:revoked"] == 1
