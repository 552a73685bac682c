"""What both demo scenarios share: how they speak, wait for a job and give up."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

__all__ = ["DemoError", "follow", "pause_for_the_console", "say"]


class DemoError(RuntimeError):
    """The demo cannot go on; the text says why and what to do."""


def say(text: str) -> None:
    print(text, flush=True)


def pause_for_the_console(endpoints: dict[str, Any]) -> None:
    """At a terminal, let the person open the console before the first job starts (its rounds
    take a fraction of a second each); ``DEMO_PAUSE=0`` or no terminal goes straight on."""
    if os.environ.get("DEMO_PAUSE", "1") == "0" or not sys.stdin.isatty():
        return
    try:
        input(
            f"  Open {endpoints['console_url']}jobs to watch the jobs live, then press Enter "
            "to start (DEMO_PAUSE=0 skips this) "
        )
    except EOFError:
        pass


def follow(api: httpx.Client, job_id: str, rounds: int, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    shown = 0
    while time.monotonic() < deadline:
        job = api.get(f"/jobs/{job_id}").json()
        if job["current_round"] > shown:
            for r in api.get(f"/jobs/{job_id}/rounds").json():
                if shown < r["number"]:
                    failures = f"  failures: {r['failures']}" if r["failures"] else ""
                    metric = "accuracy" if "accuracy" in r["metrics"] else "auc"
                    value = r["metrics"].get(metric, float("nan"))
                    say(
                        f"  round {r['number']:>2}/{rounds}  {metric} {value:.3f}"
                        f"  {r['duration_s']:.2f} s{failures}"
                    )
                    shown = r["number"]
        if job["status"] in ("completed", "failed", "stopped"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise DemoError(f"job {job_id} did not finish in {timeout_s:.0f} s")
