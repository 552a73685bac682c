"""The short chaos soak (``consortium-chaos --scripted``): four participants, and each kind of
fault once mid-job (SIGKILL of every service, of NATS and of a participant, a Postgres crash).
The job completes with contiguous rounds, no event lost or doubled, a verified audit chain and
a privacy report that agrees with the stored rounds. ``make chaos`` is the long, random one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_of_fault_once_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    soak = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "consortium-chaos"),
            "--scripted",
            "--participants",
            "4",
            "--duration",
            "60",
            "--seed",
            "7",
            "--root",
            str(tmp_path / "chaos"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = soak.communicate(timeout=780)
    except subprocess.TimeoutExpired:
        soak.terminate()  # the soak stops its platform on SIGTERM
        output, _ = soak.communicate(timeout=60)
    assert out.exists(), output[-6000:]
    report = json.loads(out.read_text())
    context = json.dumps({k: v for k, v in report.items() if k != "faults"}, indent=1)[:6000]
    assert report["completed"], context
    assert report["rounds"]["contiguous"], context
    assert report["lost_events"] == 0 and report["duplicate_events"] == 0, context
    assert report["audit_ok"], context
    assert report["privacy"]["ok"], context
    kinds = {
        f["target"]
        if f["kind"] != "kill -9" or not f["target"].startswith("participant")
        else "participant"
        for f in report["faults"]
    }
    assert kinds == {
        "coordinator",
        "registry",
        "metrics",
        "contribution",
        "gateway",
        "nats",
        "postgres",
        "participant",
    }, report["faults"]
    planned = report["rounds"]["planned"]
    assert report["events"]["expected"] == 2 * planned + 1  # round events from 0, scores from 1
    assert soak.returncode == 0, output[-3000:]
