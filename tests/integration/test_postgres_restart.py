"""Postgres restarts in the middle of a job: the coordinator waits for it and the job goes on,
with every round stored once. Postgres here is a private cluster of this test's own."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from consortium_devtools.infra import free_port, port_open, wait_for_port
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
NAMES = ["pg-a", "pg-b", "pg-c"]
ROUNDS = 40  # about 0.1 s each: Postgres stops well before the end


class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` on a free port, in a folder the postgres user can reach."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            pytest.skip("Debian's postgresql binaries are not installed")
        self.bin = Path(bins[-1])
        self.root = Path(tempfile.mkdtemp(prefix="consortium-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.data.mkdir()
        if self.as_postgres:
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args], check=True, capture_output=True
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.data}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), "-o", options, "start"
        )
        assert wait_for_port("127.0.0.1", self.port, 30)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/consortium"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        if port_open("127.0.0.1", pg.port):
            pg.stop()
        shutil.rmtree(pg.root, ignore_errors=True)


def test_a_job_goes_on_across_a_postgres_restart(
    tmp_path: Path, nats_server, private_postgres: PrivatePostgres
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=private_postgres.url, nats_url=nats_server.url
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
        private_postgres.start()
        job = coordinator.wait_job(job_id, timeout=120)
        assert job["status"] == "completed", (job, coordinator.output()[-3000:])
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
    assert [r["number"] for r in rounds] == list(range(ROUNDS + 1))
    assert "Postgres unreachable while storing round" in coordinator.output()
