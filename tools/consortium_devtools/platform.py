"""``make up`` / ``make down`` / ``make status``: the whole platform on this machine.

``up`` makes sure Postgres and NATS answer (starting our own when needed), starts every service
in the background with its log under ``var/log``, waits until each is healthy and writes
``var/run/endpoints.json``. Running it twice is harmless. ``down`` stops what ``up`` started, by
the PIDs recorded under ``var/run``, and keeps data under ``var/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .infra import ensure_nats, ensure_postgres, port_open

__all__ = ["Platform", "main"]

log = logging.getLogger("consortium.platform")


@dataclass(frozen=True)
class Service:
    """A service process that ``make up`` starts."""

    name: str
    command: list[str]
    port: int
    health_path: str
    env: dict[str, str]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class Platform:
    """Starts and stops the platform's processes, rooted at a ``var`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.var = root / "var"
        self.run_dir = self.var / "run"
        self.log_dir = self.var / "log"
        self.bin = Path(sys.executable).parent
        self.coordinator_port = int(os.environ.get("CONSORTIUM_COORDINATOR_PORT", "8700"))

    def pid_file(self, name: str) -> Path:
        """Where the PID of process ``name`` is recorded."""
        return self.run_dir / f"{name}.pid"

    def record_pid(self, name: str, pid: int) -> None:
        """Remember a process so that ``down`` stops it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file(name).write_text(str(pid))

    def running_pid(self, name: str) -> int | None:
        """The recorded PID of ``name`` if that process is alive."""
        path = self.pid_file(name)
        if not path.exists():
            return None
        pid = int(path.read_text().strip() or 0)
        return pid if pid and _alive(pid) else None

    def services(self, *, database_url: str, nats_url: str) -> list[Service]:
        """The services, in start order."""
        common = {
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        return [
            Service(
                name="coordinator",
                command=[str(self.bin / "consortium-coordinator")],
                port=self.coordinator_port,
                health_path="/api/v1/health",
                env={
                    **common,
                    "CONSORTIUM_COORDINATOR_DATABASE_URL": database_url,
                    "CONSORTIUM_COORDINATOR_NATS_URL": nats_url,
                    "CONSORTIUM_COORDINATOR_PORT": str(self.coordinator_port),
                },
            ),
        ]

    def up(self) -> dict[str, object]:
        """Start everything that is not running yet; return the endpoints."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pg = ensure_postgres(self.var)
        database_url = pg.replace("postgresql://", "postgresql+asyncpg://") + "/consortium"
        if self.running_pid("nats") is not None:
            nats_url = "nats://127.0.0.1:4222"
        else:
            nats_url, nats_pid = ensure_nats(self.var)
            if nats_pid is not None:
                self.record_pid("nats", nats_pid)
        for service in self.services(database_url=database_url, nats_url=nats_url):
            self._start(service)
        coordinator = f"http://127.0.0.1:{self.coordinator_port}"
        endpoints: dict[str, object] = {
            "gateway_url": coordinator,
            "coordinator_url": coordinator,
            "console_url": None,
            "nats_url": nats_url,
            "database_url": database_url,
            "ca_cert": None,
            "operator": None,
            "logs": str(self.log_dir.relative_to(self.root)),
        }
        (self.run_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2) + "\n")
        return endpoints

    def _start(self, service: Service) -> None:
        health = f"http://127.0.0.1:{service.port}{service.health_path}"
        if self.running_pid(service.name) is not None and self._healthy(health):
            log.info("%s already running", service.name)
            return
        if port_open("127.0.0.1", service.port):
            raise RuntimeError(
                f"port {service.port} for {service.name} is taken by another program; "
                f"free it or set CONSORTIUM_{service.name.upper()}_PORT"
            )
        logfile = (self.log_dir / f"{service.name}.log").open("ab")
        proc = subprocess.Popen(
            service.command,
            env={**os.environ, **service.env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.root,
        )
        self.record_pid(service.name, proc.pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with {proc.returncode}; see var/log/{service.name}.log"
                )
            if self._healthy(health):
                log.info("%s healthy at %s (pid %d)", service.name, health, proc.pid)
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"{service.name} not healthy after 120 s; see var/log/{service.name}.log"
        )

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def down(self) -> list[str]:
        """Stop every recorded process (clients, services, our own NATS); keep data."""
        stopped = []
        for path in sorted(self.run_dir.glob("*.pid")):
            name = path.stem
            pid = self.running_pid(name)
            if pid is not None:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except OSError:
                    os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 15
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
                stopped.append(name)
            path.unlink(missing_ok=True)
        return stopped


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``consortium-platform up|down|status``."""
    parser = argparse.ArgumentParser(prog="consortium-platform")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    platform = Platform(args.root.resolve())
    try:
        if args.command == "up":
            endpoints = platform.up()
            print(json.dumps(endpoints, indent=2))
        elif args.command == "down":
            stopped = platform.down()
            print("stopped: " + (", ".join(stopped) or "nothing was running"))
        else:
            for path in sorted(platform.run_dir.glob("*.pid")):
                pid = platform.running_pid(path.stem)
                print(f"{path.stem}: {f'running (pid {pid})' if pid else 'not running'}")
    except RuntimeError as exc:
        print(f"consortium-platform: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
