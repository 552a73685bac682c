"""The contribution service as a real process on a free port."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from consortium_devtools.infra import free_port

from support.processes import BIN, Process

__all__ = ["ContributionService"]


class ContributionService(Process):
    """``consortium-contribution`` on a free port."""

    def __init__(self, log: Path, *, database_url: str, nats_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "CONSORTIUM_CONTRIBUTION_DATABASE_URL": database_url,
            "CONSORTIUM_CONTRIBUTION_NATS_URL": nats_url,
            "CONSORTIUM_CONTRIBUTION_PORT": str(self.port),
        }
        super().__init__([str(BIN / "consortium-contribution")], log, env)
        self.http = httpx.Client(base_url=f"{self.url}/api/v1", timeout=10)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"consortium-contribution exited:\n{self.output()[-3000:]}")
            try:
                if self.http.get("/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"consortium-contribution not ready:\n{self.output()[-3000:]}")

    def wait_rounds(self, job_id: str, rounds: int, timeout: float = 60) -> dict[str, Any]:
        """The job's contributions once ``rounds`` rounds are stored."""
        deadline = time.monotonic() + timeout
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.http.get(f"/jobs/{job_id}/contributions")
            if response.status_code == 200:
                found = response.json()
                if len(found["rounds"]) >= rounds:
                    return found
            time.sleep(0.2)
        raise AssertionError(f"{job_id}: {found}\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 15) -> int:
        self.http.close()
        return super().stop(timeout)
