"""The metrics service's HTTP edges: typed errors as problem+json, settings from the environment."""

from __future__ import annotations

import pytest
from consortium_core.errors import UnknownNameError
from consortium_metrics.errors import InvalidQueryError, NotReadyError
from consortium_metrics.problems import install_problem_handlers
from consortium_metrics.settings import MetricsSettings
from fastapi import FastAPI
from fastapi.testclient import TestClient


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()

    @app.get("/not-ready")
    async def not_ready() -> None:
        raise NotReadyError("NATS is not connected; the consumer is not running")

    @app.get("/bad-query")
    async def bad_query() -> None:
        raise InvalidQueryError("limit must be in 1..1000")

    @app.get("/bad-status")
    async def bad_status() -> None:
        raise UnknownNameError("job status", "exploded", ["completed", "failed"])

    install_problem_handlers(app)
    return TestClient(app)


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/not-ready", 503, "NATS is not connected; the consumer is not running"),
        ("/bad-query", 422, "limit must be in 1..1000"),
        ("/bad-status", 422, "unknown job status 'exploded'; known: completed, failed"),
        ("/nowhere", 404, "Not Found"),
    ],
)
def test_errors_are_problem_documents(client: TestClient, path: str, status: int, detail: str):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["detail"]) == (status, detail)


def test_settings_come_from_prefixed_environment_variables(monkeypatch) -> None:
    monkeypatch.setenv("CONSORTIUM_METRICS_BATCH_SIZE", "250")
    monkeypatch.setenv("CONSORTIUM_METRICS_DURABLE", "metrics-b")
    settings = MetricsSettings()
    assert (settings.batch_size, settings.durable, settings.port) == (250, "metrics-b", 8702)
    monkeypatch.setenv("CONSORTIUM_METRICS_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="batch_size"):
        MetricsSettings()
