"""Real processes for integration tests: the coordinator service and client runtimes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from consortium_devtools.infra import free_port

BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parent.parent
ENV = {
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_TELEMETRY_ENABLED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
    # test ClientApps/ServerApps live in tests/apps
    "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
}


class Process:
    """A subprocess with its log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV, **(env or {})},
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Die at once, as a crashed participant would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_file.close()
        return self.proc.returncode


class Coordinator(Process):
    """``consortium-coordinator`` on a free port."""

    def __init__(self, log: Path, *, database_url: str, nats_url: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "CONSORTIUM_COORDINATOR_DATABASE_URL": database_url,
            "CONSORTIUM_COORDINATOR_NATS_URL": nats_url,
            "CONSORTIUM_COORDINATOR_PORT": str(self.port),
            "CONSORTIUM_COORDINATOR_PRESENCE_TIMEOUT_S": "3",
            "CONSORTIUM_COORDINATOR_PARTICIPANT_WAIT_S": "30",
            **{f"CONSORTIUM_COORDINATOR_{k.upper()}": v for k, v in settings.items()},
        }
        super().__init__([str(BIN / "consortium-coordinator")], log, env)
        self.http = httpx.Client(base_url=self.url + "/api/v1", timeout=30)

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"coordinator exited:\n{self.output()[-3000:]}")
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"coordinator not healthy:\n{self.output()[-3000:]}")

    def wait_online(self, participants: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            online = {
                p["participant_id"] for p in self.http.get("/participants").json() if p["online"]
            }
            if set(participants) <= online:
                return
            time.sleep(0.3)
        raise RuntimeError(f"participants {participants} not online; seen {online}")

    def wait_job(self, job_id: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.http.get(f"/jobs/{job_id}").json()
            if job["status"] in ("completed", "failed", "stopped"):
                return job
            time.sleep(0.3)
        raise RuntimeError(f"job did not finish: {job}\n{self.output()[-3000:]}")

    def wait_round(self, job_id: str, number: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http.get(f"/jobs/{job_id}").json()["current_round"] >= number:
                return
            time.sleep(0.1)
        raise RuntimeError(f"round {number} not reached")


def client(
    log: Path,
    participant: str,
    nats_url: str,
    *,
    task: str | None = "digits-cnn",
    app: str | None = None,
    node_config: str = "",
    extra_args: list[str] | None = None,
) -> Process:
    """``consortium-client run`` for one participant."""
    args = [str(BIN / "consortium-client"), "run", "--participant", participant, "--nats", nats_url]
    if task:
        args += ["--task", task]
    if app:
        args += ["--app", app]
    if node_config:
        args += ["--node-config", node_config]
    args += extra_args or []
    # The participant's home (its privacy ledger) under the test's folder, not ~/.consortium:
    # a ledger there would outlive the test and count against later runs.
    return Process(args, log, env={"CONSORTIUM_CLIENT_IDENTITIES_DIR": str(log.parent / "homes")})


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Stop every process at the end, whatever happens."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()
