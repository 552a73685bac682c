"""A participant's own privacy ledger, kept across jobs: it refuses the round that would take
it past its limit, and the coordinator records the refusal and its reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.processes import BIN, Coordinator, client, running

pytestmark = pytest.mark.integration


def _dp_job(coordinator: Coordinator, rounds: int) -> dict:
    created = coordinator.http.post(
        "/jobs",
        json={
            "task": "digits-cnn",
            "rounds": rounds,
            "min_participants": 1,
            "config": {"local-epochs": 1, "dp-noise-multiplier": 1.0},
        },
    )
    assert created.status_code == 201, created.text
    return coordinator.wait_job(created.json()["id"], timeout=300)


def _budget(home: Path) -> dict:
    out = subprocess.run(
        [str(BIN / "consortium-client"), "budget", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_ledger_refuses_across_jobs_and_the_coordinator_records_why(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    home = tmp_path / "homes" / "careful"
    node = "partition-id=0 num-partitions=2"
    first = client(tmp_path / "careful-1.log", "careful", nats_server.url, node_config=node)
    other = client(
        tmp_path / "other.log", "other", nats_server.url, node_config=node.replace("=0", "=1")
    )
    with running(coordinator, other):
        coordinator.wait_healthy()
        with running(first):
            coordinator.wait_online(["careful", "other"])
            job1 = _dp_job(coordinator, rounds=1)
            assert job1["status"] == "completed", job1
        spent = _budget(home)
        assert [j["job_id"] for j in spent["jobs"]] == [job1["id"]]
        assert spent["epsilon_limit"] is None and spent["spent"] > 0
        # the same participant comes back with a limit that leaves room for no more round
        limit = spent["spent"] * 1.05
        again = client(
            tmp_path / "careful-2.log",
            "careful",
            nats_server.url,
            node_config=node,
            extra_args=["--epsilon-limit", f"{limit}"],
        )
        with running(again):
            coordinator.wait_online(["careful", "other"])
            job2 = _dp_job(coordinator, rounds=2)
        assert job2["status"] == "completed", job2  # "other" carried on alone
        rounds = coordinator.http.get(f"/jobs/{job2['id']}/rounds").json()
        reason = rounds[1]["failures"]["careful"]
        assert "privacy budget exceeded" in reason and f"job {job2['id']}" in reason
        assert rounds[1]["participants"] == ["other"]
        report = coordinator.http.get(f"/jobs/{job2['id']}/privacy-report").json()
        assert {(r["round"], r["participant"]) for r in report["refusals"]} == {
            (1, "careful"),
            (2, "careful"),
        }
        after = _budget(home)
        assert after["spent"] == pytest.approx(spent["spent"])  # nothing more was charged
        assert after["epsilon_limit"] == pytest.approx(limit)
