"""SecAgg+ over the NATS runtime: the right sum with participants gone, loud failures, and no
plaintext update ever accepted by the server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from apps.secagg_app import SHAPES, update_of
from safetensors.numpy import load
from support.processes import Coordinator, client, running

pytestmark = pytest.mark.integration
APP = "apps.secagg_app"


def _participant(tmp_path: Path, nats_url: str, i: int, mode: str = "ok"):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir(exist_ok=True)
    return client(
        tmp_path / f"p{i}.log",
        f"sa-{i}",
        nats_url,
        task=None,
        app=f"{APP}:app",
        node_config=f"partition-id={i} mode='{mode}' marker-dir='{marker_dir}'",
    )


def _job(coordinator: Coordinator, *, minimum: int, config: dict) -> str:
    r = coordinator.http.post(
        "/jobs",
        json={
            "task": f"{APP}:server",
            "client_task": f"{APP}:app",
            "rounds": 1,
            "min_participants": minimum,
            "config": {"secure-aggregation": True, **config},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _expected_average(partitions: list[int]) -> list[np.ndarray]:
    updates = [update_of(p) for p in partitions]
    total = sum(count for _, count in updates)
    return [sum(arrays[k] * count for arrays, count in updates) / total for k in range(len(SHAPES))]


def test_three_of_ten_killed_mid_round_still_give_the_right_aggregate(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    stalled = [2, 5, 8]
    participants = [
        _participant(tmp_path, nats_server.url, i, "stall" if i in stalled else "ok")
        for i in range(10)
    ]
    with running(coordinator, *participants):
        coordinator.wait_healthy()
        coordinator.wait_online([f"sa-{i}" for i in range(10)], timeout=120)
        job_id = _job(
            coordinator,
            minimum=7,
            config={"secagg-num-shares": 1.0, "secagg-reconstruction-threshold": 7},
        )
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "markers").iterdir())) < len(stalled):
            assert time.monotonic() < deadline, coordinator.output()[-3000:]
            time.sleep(0.2)
        for i in stalled:  # they die holding their masked vectors, after sharing their keys
            participants[i].kill()
        job = coordinator.wait_job(job_id, timeout=120)
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job_id}/rounds").json()
        assert sorted(rounds[1]["failures"]) == [f"sa-{i}" for i in stalled]
        model = load(coordinator.http.get(f"/jobs/{job_id}/model").content)
        survivors = [i for i in range(10) if i not in stalled]
        # the quantization error bound of secure_aggregation.settings, defaults: range 8,
        # 2**22 levels, max weight 1000
        weight = sum(update_of(i)[1] for i in survivors) / 1000
        atol = len(survivors) * 2 * 8.0 / 2**22 / weight
        for name, expected in zip(SHAPES, _expected_average(survivors), strict=True):
            np.testing.assert_allclose(model[name], expected, atol=atol)
        everyone = _expected_average(list(range(10)))
        assert not np.allclose(model["w"], everyone[0], atol=1e-3)  # the dead are not in it


def test_plaintext_update_is_refused_and_a_halt_fails_the_job_with_its_reason(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    participants = [
        _participant(tmp_path, nats_server.url, i, "plaintext" if i == 0 else "ok")
        for i in range(4)
    ]
    with running(coordinator, *participants):
        coordinator.wait_healthy()
        coordinator.wait_online([f"sa-{i}" for i in range(4)])
        job_id = _job(
            coordinator,
            minimum=3,
            config={"secagg-num-shares": 1.0, "secagg-reconstruction-threshold": 4},
        )
        job = coordinator.wait_job(job_id, timeout=120)
        assert job["status"] == "failed", job
        assert "secure aggregation halted in round 1 at the collect masked vectors" in job["reason"]
        assert "3 of 4 participants still active" in job["reason"]
        assert "refused a plaintext update" in job["reason"]
        assert "refused a plaintext update" in coordinator.output()


def test_secure_aggregation_settings_are_checked_when_the_job_is_created(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    with running(coordinator):
        coordinator.wait_healthy()
        for config, message in [
            ({"secagg-num-shares": 4}, "must be an odd integer"),
            ({"secagg-reconstruction-threshold": 0}, "must be >= 2"),
        ]:
            r = coordinator.http.post(
                "/jobs",
                json={
                    "task": "digits-cnn",
                    "rounds": 1,
                    "config": {"secure-aggregation": True, **config},
                },
            )
            assert r.status_code == 422, r.text
            assert message in r.text
        r = coordinator.http.post(
            "/jobs",
            json={
                "task": "digits-cnn",
                "strategy": "FedMedian",
                "config": {"secure-aggregation": True},
            },
        )
        assert r.status_code == 422 and "FedAvg only" in r.text


def test_secure_aggregation_with_dp_sgd_on_the_private_recipe(
    tmp_path: Path, database_url: str, nats_server
) -> None:
    coordinator = Coordinator(
        tmp_path / "coordinator.log", database_url=database_url, nats_url=nats_server.url
    )
    names = [f"dpsa-{i}" for i in range(3)]
    clients = [
        client(
            tmp_path / f"{n}.log",
            n,
            nats_server.url,
            task="digits-private",
            node_config=f"partition-id={i} num-partitions=3",
        )
        for i, n in enumerate(names)
    ]
    with running(coordinator, *clients):
        coordinator.wait_healthy()
        coordinator.wait_online(names)
        created = coordinator.http.post(
            "/jobs",
            json={
                "task": "digits-private",
                "rounds": 3,
                "min_participants": 3,
                "config": {
                    "dp-target-epsilon": 4.0,
                    "dp-accountant": "prv",
                    "secure-aggregation": True,
                    "secagg-reconstruction-threshold": 2,
                },
            },
        )
        assert created.status_code == 201, created.text
        job = coordinator.wait_job(created.json()["id"], timeout=300)
        assert job["status"] == "completed", job
        rounds = coordinator.http.get(f"/jobs/{job['id']}/rounds").json()
        assert rounds[-1]["metrics"]["accuracy"] > rounds[0]["metrics"]["accuracy"] + 0.3
        assert all(r["participants"] == names for r in rounds[1:])
        report = coordinator.http.get(f"/jobs/{job['id']}/privacy-report").json()
        assert report["dp"] and report["secure_aggregation"]
        assert sorted(report["participants"]) == names
        assert all(0 < p["epsilon"] <= 4.0 for p in report["participants"].values())
        assert "refused" not in coordinator.output()
