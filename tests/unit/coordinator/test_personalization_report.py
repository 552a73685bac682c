"""The personalization report: built from a job's merged query answers, served by the
coordinator's route from real Postgres (a fresh database, the coordinator's migrations); the
privacy report still reads only the membership audit from the same merged answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from consortium_coordinator.api import personalization
from consortium_coordinator.api.problems import install_problem_handlers
from consortium_coordinator.db.bootstrap import migrate
from consortium_coordinator.db.models import Job
from consortium_core.contracts.personalization import build_personalization_report
from consortium_core.privacy.report import build_privacy_report
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

ANSWERS = {
    "hospital-a": {
        "mia_auc": 0.55,
        "mia_advantage": 0.1,
        "personal_global_accuracy": 0.6,
        "personal_accuracy": 0.9,
        "personal_global_loss": 1.1,
        "personal_loss": 0.4,
        "personal_test_examples": 50.0,
    },
    "hospital-b": {
        "personal_global_accuracy": 0.8,
        "personal_accuracy": 0.7,
        "personal_test_examples": 30.0,
    },
    "hospital-c": {"mia_auc": 0.5},  # answered the audit only
}


def test_the_report_reads_the_personal_answers_and_ignores_the_rest() -> None:
    report = build_personalization_report(
        job_id="j1", run_config={"personalize-epochs": 3}, audits=ANSWERS, status="completed"
    )
    assert report.available and report.reason == "" and report.epochs == 3
    assert list(report.participants) == ["hospital-a", "hospital-b"]
    a, b = report.participants["hospital-a"], report.participants["hospital-b"]
    assert (a.global_accuracy, a.personalized_accuracy, a.test_examples) == (0.6, 0.9, 50)
    assert a.gain == pytest.approx(0.3) and b.gain == pytest.approx(-0.1)
    assert report.mean_global_accuracy == pytest.approx(0.7)
    assert report.mean_personalized_accuracy == pytest.approx(0.8)


def test_the_privacy_report_reads_only_the_membership_audit_of_merged_answers() -> None:
    mia = build_privacy_report(job_id="j1", run_config={}, rounds=[], audits=ANSWERS)
    assert mia.membership_inference is not None
    assert mia.membership_inference.participants == {
        "hospital-a": {"mia_auc": 0.55, "mia_advantage": 0.1},
        "hospital-c": {"mia_auc": 0.5},
    }
    assert mia.membership_inference.auc_max == 0.55


@pytest.mark.parametrize(
    ("run_config", "status", "audits", "says"),
    [
        ({}, "completed", ANSWERS, "did not ask for personalization"),
        ({"personalize-epochs": 0}, "completed", ANSWERS, "did not ask for personalization"),
        ({"personalize-epochs": 2}, "running", ANSWERS, "the job is running"),
        ({"personalize-epochs": 2}, "pending", {}, "the job is pending"),
        ({"personalize-epochs": 2}, "failed", {"h": {"mia_auc": 0.5}}, "no participant"),
    ],
)
def test_the_report_says_why_it_is_not_available(
    run_config: dict[str, Any], status: str, audits: dict[str, dict[str, float]], says: str
) -> None:
    report = build_personalization_report(
        job_id="j1", run_config=run_config, audits=audits, status=status
    )
    assert not report.available and says in report.reason
    assert report.participants == {} and report.mean_personalized_accuracy is None


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(migrate, database_url)
    engine = create_async_engine(database_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _add_job(
    sessions: async_sessionmaker[AsyncSession], *, run_config: dict[str, Any], status: str
) -> str:
    job_id = uuid.uuid4().hex
    async with sessions() as session:
        session.add(
            Job(
                id=job_id,
                run_id=uuid.uuid4().int >> 66,
                task="mnist",
                server_app="consortium_tasks.mnist:app",
                client_task="mnist",
                strategy="fedavg",
                rounds=2,
                min_participants=2,
                run_config=run_config,
                status=status,
                audits=ANSWERS,
            )
        )
        await session.commit()
    return job_id


def _app(sessions: async_sessionmaker[AsyncSession]) -> FastAPI:
    """The coordinator's router and problem handlers, without its NATS lifespan."""
    app = FastAPI()
    api = APIRouter(prefix="/api/v1")
    api.include_router(personalization.router)
    app.include_router(api)
    install_problem_handlers(app)
    app.state.sessions = sessions
    return app


async def test_the_route_serves_a_jobs_report_and_a_problem_for_an_unknown_job(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    asked = await _add_job(sessions, run_config={"personalize-epochs": 2}, status="completed")
    not_asked = await _add_job(sessions, run_config={}, status="completed")
    transport = httpx.ASGITransport(app=_app(sessions))
    async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as http:
        report = (await http.get(f"/api/v1/jobs/{asked}/personalization")).json()
        assert report["available"] is True and report["epochs"] == 2
        assert report["participants"]["hospital-a"]["gain"] == pytest.approx(0.3)
        assert report["mean_global_accuracy"] == pytest.approx(0.7)
        other = (await http.get(f"/api/v1/jobs/{not_asked}/personalization")).json()
        assert other["available"] is False and "personalize-epochs" in other["reason"]
        missing = await http.get("/api/v1/jobs/no-such-job/personalization")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "no-such-job" in missing.json()["detail"]
