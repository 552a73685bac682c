"""The gateway in front of a real registry and coordinator: one HTTPS door with roles.

Operators log in through the gateway (the registry checks passwords and holds roles); viewers
read, job operators run jobs, admins manage participants; every error is problem+json; a job's
progress streams as server-sent events from NATS; and a schemathesis run against the
gateway's own OpenAPI document finds no request that makes it fail (5xx).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.contribution import ContributionService
from support.gateway import Gateway
from support.metrics import MetricsService
from support.processes import BIN, Coordinator, client, running
from support.registry import Registry, running_registry

CONTRACT_PATHS = [
    "/api/v1/health",
    "/api/v1/jobs",
    "/api/v1/jobs/{job_id}",
    "/api/v1/jobs/{job_id}/stop",
    "/api/v1/jobs/{job_id}/rounds",
    "/api/v1/jobs/{job_id}/events",
    "/api/v1/jobs/{job_id}/privacy-report",
    "/api/v1/jobs/{job_id}/personalization",
    "/api/v1/jobs/{job_id}/model",
    "/api/v1/participants",
    "/api/v1/participants/{participant_id}/enrollment-tokens",
    "/api/v1/participants/{participant_id}/revoke",
    "/api/v1/audit",
    "/api/v1/audit/verify",
]


@dataclass
class Platform:
    registry: Registry
    coordinator: Coordinator
    gateway: Gateway
    nats_url: str
    workdir: Path
    admin_token: str

    def token(self, role: str) -> str:
        password = f"pw-{role}-0123456789"
        username = f"{role.replace('_', '-')}-user"
        with self.gateway.client(self.admin_token) as http:
            created = http.post(
                "/operators", json={"username": username, "password": password, "role": role}
            )
            assert created.status_code in (201, 409), created.text
        return self.gateway.login(username, password)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, database_url: str, nats_server
) -> Iterator[Platform]:
    workdir = tmp_path_factory.mktemp("gateway")
    (workdir / "registry").mkdir()
    with running_registry(postgres_url, workdir / "registry") as registry:
        coordinator = Coordinator(
            workdir / "coordinator.log", database_url=database_url, nats_url=nats_server.url
        )
        metrics = MetricsService(
            workdir / "metrics.log", database_url=database_url, nats_url=nats_server.url
        )
        contribution = ContributionService(
            workdir / "contribution.log", database_url=database_url, nats_url=nats_server.url
        )
        with running(coordinator, metrics, contribution):
            coordinator.wait_healthy()
            metrics.wait_ready()
            contribution.wait_ready()
            gateway = Gateway(
                workdir,
                registry=registry,
                coordinator_url=coordinator.url,
                database_url=database_url,
                nats_url=nats_server.url,
                contribution_url=contribution.url,
            )
            with running(gateway):
                gateway.wait_healthy()
                admin = gateway.login("admin", registry.password_file.read_text().strip())
                yield Platform(registry, coordinator, gateway, nats_server.url, workdir, admin)


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_health_readiness_openapi_and_console(platform: Platform) -> None:
    with platform.gateway.client() as http:
        assert http.get("/health").json() == {"status": "ok", "service": "gateway"}
        assert http.get("/ready").json() == {"status": "ready"}
        spec = http.get("/openapi.json").json()
        for path in CONTRACT_PATHS:
            assert path in spec["paths"], path
        _is_problem(http.get("/no-such-route"), 404)
        page = http.get(platform.gateway.base_url.removesuffix("/api/v1") + "/jobs/abc")
        assert page.status_code == 200 and "Consortium" in page.text
        assert page.headers["x-content-type-options"] == "nosniff"
        metrics = http.get(platform.gateway.base_url.removesuffix("/api/v1") + "/metrics")
        assert 'service="gateway"' in metrics.text


def test_login_and_roles(platform: Platform) -> None:
    gateway = platform.gateway
    with gateway.client() as anonymous:
        problem = _is_problem(anonymous.get("/jobs"), 401)
        assert "log in" in problem["detail"]
        _is_problem(anonymous.post("/auth/login", json={"username": "admin", "password": "x"}), 401)
    with gateway.client("v1.forged.token") as forged:
        _is_problem(forged.get("/jobs"), 401)
    viewer = platform.token("viewer")
    with gateway.client(viewer) as http:
        assert http.get("/auth/me").json()["role"] == "viewer"
        assert http.get("/jobs").status_code == 200
        assert http.get("/participants").status_code == 200
        assert http.get("/audit/verify").json()["ok"] is True
        denied = _is_problem(http.post("/jobs", json={"task": "digits-cnn"}), 403)
        assert "viewer" in denied["detail"]
        _is_problem(http.post("/participants", json={"participant_id": "x-1"}), 403)
    operator = platform.token("job_operator")
    with gateway.client(operator) as http:
        _is_problem(http.post("/participants", json={"participant_id": "x-1"}), 403)
        bad = _is_problem(http.post("/jobs", json={"task": "no-such-task"}), 422)
        assert "digits-cnn" in bad["detail"]
        _is_problem(http.get("/jobs/does-not-exist"), 404)
        _is_problem(http.get("/jobs/bad%20id"), 422)


def test_admin_manages_participants_through_the_gateway(platform: Platform) -> None:
    with platform.gateway.client(platform.admin_token) as http:
        created = http.post("/participants", json={"participant_id": "clinic-7", "name": "C7"})
        assert created.status_code == 201, created.text
        _is_problem(http.post("/participants", json={"participant_id": "clinic-7"}), 409)
        token = http.post("/participants/clinic-7/enrollment-tokens", json={"ttl_s": 600})
        assert token.status_code == 201 and token.json()["token"]
        revoked = http.post("/participants/clinic-7/revoke", json={"reason": "left"})
        assert revoked.json()["participant"]["status"] == "revoked"
        detail = http.get("/participants/clinic-7").json()
        assert detail["status"] == "revoked"
        kinds = [e["kind"] for e in http.get("/audit", params={"limit": 1000}).json()]
        assert "participant_revoked" in kinds
        assert http.get("/ca.pem").text.startswith("-----BEGIN CERTIFICATE-----")


def _read_events(http: httpx.Client, job_id: str, **headers: str) -> list[tuple[str, str, dict]]:
    """(id, event, data) of every event until the stream ends."""
    events: list[tuple[str, str, dict]] = []
    with http.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append((current["id"], current["event"], json.loads(current["data"])))
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = value
    return events


def test_a_job_run_and_watched_through_the_gateway(platform: Platform) -> None:
    operator = platform.token("job_operator")
    names = ["gw-a", "gw-b"]
    clients = [
        client(
            platform.workdir / f"{n}.log",
            n,
            platform.nats_url,
            task="breast-cancer-logreg",
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, n in enumerate(names)
    ]
    with running(*clients), platform.gateway.client(operator) as http:
        platform.coordinator.wait_online(names)
        created = http.post(
            "/jobs",
            json={"task": "breast-cancer-logreg", "rounds": 2, "min_participants": 2},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        events = _read_events(http, job_id)
        kinds = [kind for _, kind, _ in events]
        assert kinds[0] == "job_created" and kinds[-1] == "job_finished", kinds
        assert kinds.count("round_completed") == 3  # round 0 is the initial evaluation
        ids = [int(i) for i, _, _ in events]
        assert ids == sorted(ids)
        resumed = _read_events(http, job_id, **{"Last-Event-ID": str(ids[1])})
        assert [int(i) for i, _, _ in resumed] == ids[2:]
        # the read model (metrics service) answers exactly what the coordinator would
        # (it follows the same stream as the SSE, a few milliseconds behind)
        deadline = time.monotonic() + 10
        while (job := http.get(f"/jobs/{job_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job == platform.coordinator.http.get(f"/jobs/{job_id}").json()
        rounds = http.get(f"/jobs/{job_id}/rounds").json()
        assert [r["number"] for r in rounds] == [0, 1, 2]
        assert rounds == platform.coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        assert "read model unavailable" not in platform.gateway.output()
        deadline = time.monotonic() + 30  # the read model may lag the coordinator under load
        while not any(
            j["id"] == job_id for j in http.get("/jobs", params={"status": "completed"}).json()
        ):
            assert time.monotonic() < deadline, "the read model never listed the completed job"
            time.sleep(0.2)
        model = http.get(f"/jobs/{job_id}/model")
        assert model.status_code == 200 and model.headers["x-consortium-task"]
        assert http.get(f"/jobs/{job_id}/privacy-report").status_code == 200
        personalization = http.get(f"/jobs/{job_id}/personalization").json()
        assert personalization["available"] is False and personalization["epochs"] == 0
        _is_problem(http.post(f"/jobs/{job_id}/stop"), 409)
        # the job filter reaches the registry (whose own test fills and filters the log)
        assert http.get("/audit", params={"job_id": job_id}).status_code == 200
        # the contribution service scores both training rounds; the gateway relays them
        deadline = time.monotonic() + 30
        while len((scored := http.get(f"/jobs/{job_id}/contributions").json())["rounds"]) < 2:
            assert time.monotonic() < deadline, scored
            time.sleep(0.2)
        assert scored["method"] == "gtg" and sorted(scored["rounds"][0]["values"]) == names
        assert {row["participant_id"] for row in http.get("/contributions/ledger").json()} >= set(
            names
        )
        ledger_csv = http.get("/contributions/ledger.csv")
        assert ledger_csv.text.startswith("participant_id,value,jobs,rounds")
        _is_problem(http.get("/jobs/unknown-job/contributions"), 404)
        _is_problem(http.get("/jobs/unknown-job/events"), 404)


def test_schemathesis_finds_no_server_error(platform: Platform) -> None:
    """Property-based requests from the OpenAPI document: no 5xx, responses match it."""
    url = platform.gateway.base_url + "/openapi.json"
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            url,
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {platform.admin_token}",
            "--tls-verify",
            str(platform.gateway.ca_cert),
            "--max-examples",
            "10",
            "--exclude-path",
            "/api/v1/jobs/{job_id}/events",
            "--exclude-path",
            "/api/v1/audit/export",
            "--seed",
            "1",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=platform.workdir,  # schemathesis keeps a cache folder where it runs
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_a_service_down_is_a_clear_503(platform: Platform) -> None:
    with platform.gateway.client(platform.admin_token) as http:
        platform.registry.kill()  # a crashed service: no goodbye to the gateway's connections
        problem = _is_problem(http.get("/participants"), 503)
        assert "registry" in problem["detail"]
        ready = _is_problem(http.get("/ready"), 503)
        assert ready["checks"]["registry"] is False
