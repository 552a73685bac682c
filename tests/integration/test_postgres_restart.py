"""Postgres restarts in the middle of a job: the coordinator waits for it and the job goes on,
with every round stored once. Postgres here is a private cluster of this test's own."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from consortium_devtools.infra import free_port
from consortium_devtools.postgres import PostgresBinariesMissing, PrivatePostgres
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
NAMES = ["pg-a", "pg-b", "pg-c"]
ROUNDS = 40  # about 0.1 s each: Postgres stops well before the end


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    root = Path(tempfile.mkdtemp(prefix="consortium-pg-"))
    root.chmod(0o755)  # the postgres user must reach its folder
    try:
        pg = PrivatePostgres(root / "data", free_port())
    except PostgresBinariesMissing as exc:
        pytest.skip(str(exc))
    assert pg.start()
    try:
        yield pg
    finally:
        if pg.answering():
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def database_url(pg: PrivatePostgres) -> str:
    return pg.url.replace("postgresql://", "postgresql+asyncpg://") + "/consortium"


def test_a_job_goes_on_across_a_postgres_restart(
    tmp_path: Path, nats_server, private_postgres: PrivatePostgres
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log",
        database_url=database_url(private_postgres),
        nats_url=nats_server.url,
    )
    participants = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            task="breast-cancer-logreg",
            node_config=f"partition-id={i} num-partitions=3",
        )
        for i, n in enumerate(NAMES)
    ]
    with running(coordinator, *participants):
        coordinator.wait_healthy()
        coordinator.wait_online(NAMES)
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "breast-cancer-logreg",
                "rounds": ROUNDS,
                "min_participants": 3,
                "config": {"local-epochs": 1, "membership-audit": False},
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        coordinator.wait_round(job_id, 2)
        private_postgres.stop()  # mid-job
        time.sleep(4)
        assert private_postgres.start()
        job = coordinator.wait_job(job_id, timeout=120)
        assert job["status"] == "completed", (job, coordinator.output()[-3000:])
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
    assert [r["number"] for r in rounds] == list(range(ROUNDS + 1))
    assert "Postgres unreachable while storing round" in coordinator.output()
