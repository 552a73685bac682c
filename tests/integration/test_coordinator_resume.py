"""The coordinator killed with SIGKILL mid-job: a new process resumes the job from its last
checkpointed round, with the same participants and the same privacy accounting, with plain
FedAvg and under SecAgg+ (the interrupted round runs again with fresh masks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.events import job_events
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
NAMES = [f"resume-{i}" for i in range(3)]
ROUNDS = 6
SECURE = {"secure-aggregation": True, "secagg-reconstruction-threshold": 2}


@pytest.mark.parametrize("mode", [{}, SECURE], ids=["fedavg", "secagg+"])
def test_a_killed_coordinator_resumes_the_job_after_its_last_checkpoint(
    tmp_path: Path, database_url: str, nats_server, mode: dict
) -> None:
    participants = [
        client(
            tmp_path / f"{name}.log",
            name,
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=3",
        )
        for i, name in enumerate(NAMES)
    ]
    first = Coordinator(
        tmp_path / "coordinator-1.log", database_url=database_url, nats_url=nats_server.url
    )
    with running(*participants):
        with running(first):
            first.wait_healthy()
            first.wait_online(NAMES)
            created = first.http.post(
                "/jobs",
                json={
                    "task": "digits-cnn",
                    "rounds": ROUNDS,
                    "min_participants": 3,
                    "config": {"local-epochs": 1, "dp-noise-multiplier": 0.8, **mode},
                },
            )
            assert created.status_code == 201, created.text
            job_id = created.json()["id"]
            first.wait_round(job_id, 2)
            first.kill()  # SIGKILL, mid round 3
        second = Coordinator(
            tmp_path / "coordinator-2.log", database_url=database_url, nats_url=nats_server.url
        )
        with running(second):
            second.wait_healthy()
            job = second.wait_job(job_id, timeout=300)
            assert job["status"] == "completed", (job, second.output()[-3000:])
            rounds = second.http.get(f"/jobs/{job_id}/rounds").json()
            report = second.http.get(f"/jobs/{job_id}/privacy-report").json()
    assert "resuming after round" in second.output()
    # one round_completed event per round, none lost, none twice: the resumed coordinator
    # republished the last stored round's under the same id, which JetStream kept once
    events = asyncio.run(job_events(nats_server.url, job_id, "round_completed"))
    assert sorted(e["round"] for e in events) == list(range(ROUNDS + 1))
    assert len({e["id"] for e in events}) == len(events)
    assert [r["number"] for r in rounds] == list(range(ROUNDS + 1))  # contiguous, none twice
    for r in rounds[1:]:
        assert sorted(r["participants"]) == NAMES, r
    assert rounds[-1]["metrics"]["accuracy"] > rounds[0]["metrics"]["accuracy"] + 0.1  # DP: slow
    # every round's DP-SGD is counted once: the report composes the six rounds' steps
    for name in NAMES:
        steps = [int(r["participant_metrics"][name]["dp_steps"]) for r in rounds[1:]]
        assert report["participants"][name]["steps"] == sum(steps), report["participants"][name]
        assert report["participants"][name]["rounds"] == ROUNDS
