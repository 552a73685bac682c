"""A he-ckks job on the real platform: enrolled hospitals over mutual-TLS NATS, the coordinator
holding only public keys (a tripwire in every service logs each TenSEAL context it makes or
loads), encrypted checkpoints, a coordinator killed mid-job that resumes it (a hospital deals a
fresh key), the audit log and the privacy report."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from unittest.mock import patch

import pytest
from consortium_devtools.hospitals import start_hospitals, wait_online
from safetensors.numpy import load
from support.own_platform import operator_for, own_platform

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

TRIPWIRE = Path(__file__).resolve().parents[1] / "support" / "secret_key_tripwire"
HOSPITALS, ROUNDS = 3, 4
KILLED_AFTER = 2


def _kill_coordinator_after_round(
    platform, api, job_id: str, stored: int, env: dict[str, str]
) -> None:
    """SIGKILL the coordinator once round ``stored`` is stored, then start it again (with the
    services' ``env``: the tripwire watches the new process too)."""
    deadline = time.monotonic() + 300
    while not [r for r in api.get(f"/jobs/{job_id}/rounds").json() if r["number"] >= stored]:
        assert time.monotonic() < deadline, api.get(f"/jobs/{job_id}").json()
        time.sleep(0.2)
    pid = platform.running_pid("coordinator")
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # not our child: wait until it is gone
        while platform.running_pid("coordinator") is not None:
            time.sleep(0.05)
    with patch.dict(os.environ, env):
        platform.start("coordinator")


def test_he_ckks_job_over_mutual_tls_never_gives_the_coordinator_a_secret_key(
    tmp_path: Path, postgres_url: str
) -> None:
    contexts = tmp_path / "contexts.log"
    services_env = {"PYTHONPATH": str(TRIPWIRE), "CONSORTIUM_TEST_CONTEXT_LOG": str(contexts)}
    with own_platform(
        tmp_path / "platform",
        postgres_url,
        f"consortium_he_test_{os.getpid()}",
        services_env=services_env,
    ) as platform:
        endpoints, operator = operator_for(platform)
        names = start_hospitals(
            platform,
            endpoints,
            operator,
            task="digits-cnn",
            count=HOSPITALS,
            partition="iid",
            seed=3,
        )
        wait_online(operator.http, names, timeout_s=120)
        api = operator.http
        created = api.post(
            "/jobs",
            json={
                "name": "encrypted",
                "task": "digits-cnn",
                "rounds": ROUNDS,
                "min_participants": HOSPITALS,
                "config": {"aggregation": "he-ckks"},
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        _kill_coordinator_after_round(platform, api, job_id, KILLED_AFTER, services_env)
        deadline = time.monotonic() + 420
        while (job := api.get(f"/jobs/{job_id}").json())["status"] not in (
            "completed",
            "failed",
            "stopped",
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["status"] == "completed", job["reason"]
        rounds = [r for r in api.get(f"/jobs/{job_id}/rounds").json() if r["number"] > 0]
        assert [r["number"] for r in rounds] == list(range(1, ROUNDS + 1))
        assert all(sorted(r["participants"]) == sorted(names) for r in rounds), rounds
        assert rounds[-1]["metrics"]["accuracy"] > 0.8, rounds[-1]

        model = api.get(f"/jobs/{job_id}/model")
        assert model.status_code == 200, model.text
        stored = load(io.BytesIO(model.content).read())
        assert stored and all(name.startswith("he-ckks.") for name in stored), list(stored)

        privacy = api.get(f"/jobs/{job_id}/privacy-report").json()
        assert privacy["aggregation"] == "he-ckks", privacy
        assert "ciphertexts" in privacy["server_saw"], privacy

        exchanges: list[dict] = []
        deadline = time.monotonic() + 60  # the registry chains audit records as they come
        while len(exchanges) < 2 * HOSPITALS * ROUNDS and time.monotonic() < deadline:
            audit = api.get("/audit", params={"job_id": job_id, "limit": 1000}).json()
            exchanges = [e for e in audit if e["kind"] == "parameter_exchange"]
            time.sleep(0.5)
        assert len(exchanges) >= 2 * HOSPITALS * ROUNDS, exchanges[:3]
        assert api.get("/audit/verify").json()["ok"] is True

        coordinator_pid = str(platform.running_pid("coordinator"))
    lines = [line.split() for line in contexts.read_text().splitlines()]
    assert [pid for pid, *_ in lines if pid == coordinator_pid], "the tripwire saw nothing"
    assert all(private == "False" for _, _, private in lines), lines
