"""A FedBuff job on the real runtime (coordinator, 3 client processes, Postgres, NATS) with one
straggler: the job does not wait for it, its late updates still count (down-weighted), and each
round records exactly the participants whose updates it applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration

NAMES = ["async-0", "async-1", "async-slow"]
STRAGGLER_DELAY_S = 2.0


def test_fedbuff_job_with_a_straggler(tmp_path: Path, database_url: str, nats_server) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    clients = [
        client(
            tmp_path / f"{name}.log",
            name,
            nats_server.url,
            node_config=f"partition-id={i} num-partitions=3"
            + (f" straggler-delay-s={STRAGGLER_DELAY_S}" if name == "async-slow" else ""),
        )
        for i, name in enumerate(NAMES)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(NAMES)
        http = coordinator.http
        refused = http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "strategy": "FedBuff",
                "config": {"secure-aggregation": True},
            },
        )
        assert refused.status_code == 422 and "FedBuff cannot run with" in refused.text
        bad = http.post(
            "/jobs",
            json={"task": "digits-cnn", "strategy": "FedBuff", "config": {"async.alpha": 3}},
        )
        assert bad.status_code == 422 and "async.alpha must be in (0, 1]" in bad.text
        created = http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "strategy": "FedBuff",
                "rounds": 6,
                "min_participants": 3,
                "name": "fedbuff",
                "config": {
                    "local-epochs": 1,
                    "async.buffer-size": 2,
                    "membership-audit": False,
                },
            },
        )
        assert created.status_code == 201, created.text
        job = coordinator.wait_job(created.json()["id"], timeout=120)
        assert job["status"] == "completed", job
        rounds = http.get(f"/jobs/{job['id']}/rounds").json()

    assert [r["number"] for r in rounds] == list(range(7))
    assert rounds[-1]["metrics"]["accuracy"] > rounds[0]["metrics"]["accuracy"] + 0.3
    applied = [r["participants"] for r in rounds[1:]]
    assert all(1 <= len(p) <= 2 for p in applied)  # a buffer of 2 updates per round
    assert all(r["failures"] == {} for r in rounds)
    fast_rounds = sum("async-0" in p or "async-1" in p for p in applied)
    slow_rounds = sum("async-slow" in p for p in applied)
    assert fast_rounds == 6 and slow_rounds < fast_rounds  # nobody waited for the straggler
    # FedBuff's rounds are far shorter than the straggler's delay
    assert sorted(r["duration_s"] for r in rounds[1:])[2] < STRAGGLER_DELAY_S
    assert "Traceback" not in coordinator.output()
