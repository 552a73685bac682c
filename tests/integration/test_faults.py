"""Faults: dead clients, unsound updates, too few participants, operator stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
CHAOS = "apps.chaos_app:app"
ROUNDS_TO_REJOIN = 30


def _chaos(
    tmp_path: Path, name: str, nats_url: str, i: int, n: int, mode: str = "ok", delay: float = 0.0
):
    return client(
        tmp_path / f"{name}.log",
        name,
        nats_url,
        task=None,
        app=CHAOS,
        node_config=f"partition-id={i} num-partitions={n} mode='{mode}' delay-s={delay}",
    )


def _job(coordinator: Coordinator, *, rounds: int, minimum: int) -> str:
    r = coordinator.http.post(
        "/jobs",
        json={
            "task": "consortium_tasks.digits_cnn.server_app:app",
            "client_task": CHAOS,
            "rounds": rounds,
            "min_participants": minimum,
            "config": {"local-epochs": 1},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_dead_client_round_completes_with_the_others(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["dead-a", "dead-b", "dead-c"]
    clients = [_chaos(tmp_path, n, nats_server.url, i, 3, "slow", 1.5) for i, n in enumerate(names)]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        job_id = _job(coordinator, rounds=3, minimum=2)
        coordinator.wait_round(job_id, 1)
        clients[2].kill()  # dies during round 2's slow training
        job = coordinator.wait_job(job_id)
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        assert "dead-c" in rounds[2]["failures"]
        assert "offline" in rounds[2]["failures"]["dead-c"]
        assert rounds[3]["participants"] == ["dead-a", "dead-b"]


def test_a_participant_that_comes_back_rejoins_at_a_later_round(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["back-a", "back-b", "back-c"]
    clients = [_chaos(tmp_path, n, nats_server.url, i, 3, "slow", 0.5) for i, n in enumerate(names)]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        job_id = _job(coordinator, rounds=ROUNDS_TO_REJOIN, minimum=2)
        coordinator.wait_round(job_id, 1)
        clients[2].kill()  # gone mid-job ...
        coordinator.wait_round(job_id, 3)
        again = _chaos(tmp_path, "back-c", nats_server.url, 2, 3, "slow", 0.5)  # ... and back
        with running(again):
            coordinator.wait_online(["back-c"])
            back_at = coordinator.http.get(f"/jobs/{job_id}").json()["current_round"]
            job = coordinator.wait_job(job_id)
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
    assert back_at < ROUNDS_TO_REJOIN - 2, "the job ended before the participant came back"
    assert [r["number"] for r in rounds] == list(range(ROUNDS_TO_REJOIN + 1))
    assert "back-c" not in rounds[3]["participants"]
    assert all("back-c" in r["participants"] for r in rounds[back_at + 2 :])  # rejoined


def test_job_fails_with_a_reason_when_too_few_remain(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["few-a", "few-b"]
    clients = [_chaos(tmp_path, n, nats_server.url, i, 2, "slow", 1.5) for i, n in enumerate(names)]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        job_id = _job(coordinator, rounds=4, minimum=2)
        coordinator.wait_round(job_id, 1)
        clients[1].kill()
        job = coordinator.wait_job(job_id)
        assert job["status"] == "failed"
        assert "needs at least 2" in job["reason"] and "few-b" in job["reason"]
        assert "min_participants" in job["reason"]


def test_unsound_updates_are_refused_and_logged(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    modes = {"sound-a": "ok", "sound-b": "ok", "nan-c": "nan", "shape-d": "shape"}
    clients = [
        _chaos(tmp_path, n, nats_server.url, i, 4, m) for i, (n, m) in enumerate(modes.items())
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(list(modes))
        job_id = _job(coordinator, rounds=2, minimum=2)
        job = coordinator.wait_job(job_id)
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        for r in rounds[1:]:
            assert r["participants"] == ["sound-a", "sound-b"]
            assert "NaN or Inf" in r["failures"]["nan-c"]
            assert "shape" in r["failures"]["shape-d"]
        model = load(coordinator.http.get(f"/jobs/{job_id}/model").content)
        assert all(np.isfinite(t).all() for t in model.values())  # NaN never reached the model
        log = coordinator.output()
        assert "refused the update of nan-c" in log and "refused the update of shape-d" in log


def test_too_few_participants_online_fails_clearly(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log",
        database_url=database_url,
        nats_url=nats_server.url,
        participant_wait_s="3",
    )
    other = client(tmp_path / "bc.log", "only-bc", nats_server.url, task="breast-cancer-logreg")
    with running(coordinator, other):
        coordinator.wait_healthy()
        coordinator.wait_online(["only-bc"])
        r = coordinator.http.post("/jobs", json={"task": "digits-cnn", "min_participants": 1})
        job = coordinator.wait_job(r.json()["id"])
        assert job["status"] == "failed"
        assert "only 0 participant(s) running task 'digits-cnn'" in job["reason"]


def test_operator_stops_a_running_job(tmp_path: Path, database_url: str, nats_server) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = ["stop-a", "stop-b"]
    clients = [_chaos(tmp_path, n, nats_server.url, i, 2, "slow", 0.5) for i, n in enumerate(names)]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        job_id = _job(coordinator, rounds=50, minimum=2)
        coordinator.wait_round(job_id, 1)
        stopped = coordinator.http.post(f"/jobs/{job_id}/stop")
        assert stopped.status_code == 200
        assert coordinator.wait_job(job_id)["status"] == "stopped"
        again = coordinator.http.post(f"/jobs/{job_id}/stop")
        assert again.status_code == 409
