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
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from consortium_registry.files import write_private
from consortium_registry.natsauth.config import NatsServerConfig
from consortium_registry.natsauth.reloader import NatsAuthorizationFile

from .infra import ensure_postgres, nats_server_binary, port_open, wait_for_port
from .pki import PlatformPki, prepare_platform_pki

__all__ = ["Platform", "main"]

log = logging.getLogger("consortium.platform")


@dataclass(frozen=True)
class Service:
    """A service process that ``make up`` starts."""

    name: str
    command: list[str]
    port: int
    health_url: str
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
        self.registry_port = int(os.environ.get("CONSORTIUM_REGISTRY_PORT", "8701"))
        self.metrics_port = int(os.environ.get("CONSORTIUM_METRICS_PORT", "8702"))
        self.contribution_port = int(os.environ.get("CONSORTIUM_CONTRIBUTION_PORT", "8703"))
        self.gateway_port = int(os.environ.get("CONSORTIUM_GATEWAY_PORT", "8443"))
        self.nats_port = int(os.environ.get("CONSORTIUM_NATS_PORT", "4223"))
        self.postgres_port = int(os.environ.get("CONSORTIUM_POSTGRES_PORT", "5432"))
        self.database = os.environ.get("CONSORTIUM_PLATFORM_DATABASE", "consortium")
        self.console_dir = Path(
            os.environ.get("CONSORTIUM_GATEWAY_CONSOLE_DIR", str(root / "web" / "dist"))
        )
        self.nats_config = self.var / "nats" / "nats.conf"
        self.nats_pid_file = self.run_dir / "nats-server.pid"
        self.operator_password_file = self.run_dir / "operator.password"
        self.ca_cert = self.var / "pki" / "ca.crt"

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

    def services(self, *, database_url: str, nats_url: str, pki: PlatformPki) -> list[Service]:
        """The services, in start order."""
        common = {
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        registry_cert, registry_key = pki.service("registry")
        coordinator_cert, coordinator_key = pki.service("coordinator")
        metrics_cert, metrics_key = pki.service("metrics")
        contribution_cert, contribution_key = pki.service("contribution")
        gateway_nats_cert, gateway_nats_key = pki.service("gateway")
        gateway_cert, gateway_key = pki.gateway_server
        nats = "CONSORTIUM_REGISTRY_NATS__"
        return [
            Service(
                name="registry",
                command=[str(self.bin / "consortium-registry")],
                port=self.registry_port,
                health_url=f"https://127.0.0.1:{self.registry_port}/api/v1/health",
                env={
                    **common,
                    "CONSORTIUM_REGISTRY_DATABASE_URL": database_url,
                    "CONSORTIUM_REGISTRY_PORT": str(self.registry_port),
                    "CONSORTIUM_REGISTRY_PKI_DIR": str(pki.directory),
                    "CONSORTIUM_REGISTRY_ADMIN_PASSWORD_FILE": str(self.operator_password_file),
                    "CONSORTIUM_REGISTRY_ADMIN_PASSWORD": self._operator_password(),
                    "CONSORTIUM_REGISTRY_AUTHORIZATION_SINK": "nats",
                    f"{nats}URL": nats_url,
                    f"{nats}CERT_FILE": str(registry_cert),
                    f"{nats}KEY_FILE": str(registry_key),
                    f"{nats}PORT": str(self.nats_port),
                    f"{nats}CONFIG_FILE": str(self.nats_config),
                    f"{nats}PID_FILE": str(self.nats_pid_file),
                    f"{nats}STORE_DIR": str(self.var / "nats" / "jetstream"),
                    f"{nats}SERVER_CERT": str(pki.nats_cert),
                    f"{nats}SERVER_KEY": str(pki.nats_key),
                },
            ),
            Service(
                name="coordinator",
                command=[str(self.bin / "consortium-coordinator")],
                port=self.coordinator_port,
                health_url=f"http://127.0.0.1:{self.coordinator_port}/api/v1/health",
                env={
                    **common,
                    "CONSORTIUM_COORDINATOR_DATABASE_URL": database_url,
                    "CONSORTIUM_COORDINATOR_NATS_URL": nats_url,
                    "CONSORTIUM_COORDINATOR_NATS_CA_FILE": str(pki.ca_cert),
                    "CONSORTIUM_COORDINATOR_NATS_CERT_FILE": str(coordinator_cert),
                    "CONSORTIUM_COORDINATOR_NATS_KEY_FILE": str(coordinator_key),
                    "CONSORTIUM_COORDINATOR_PORT": str(self.coordinator_port),
                },
            ),
            Service(
                name="metrics",
                command=[str(self.bin / "consortium-metrics")],
                port=self.metrics_port,
                health_url=f"http://127.0.0.1:{self.metrics_port}/api/v1/ready",
                env={
                    **common,
                    "CONSORTIUM_METRICS_DATABASE_URL": database_url,
                    "CONSORTIUM_METRICS_NATS_URL": nats_url,
                    "CONSORTIUM_METRICS_NATS_CA_FILE": str(pki.ca_cert),
                    "CONSORTIUM_METRICS_NATS_CERT_FILE": str(metrics_cert),
                    "CONSORTIUM_METRICS_NATS_KEY_FILE": str(metrics_key),
                    "CONSORTIUM_METRICS_PORT": str(self.metrics_port),
                },
            ),
            Service(
                name="contribution",
                command=[str(self.bin / "consortium-contribution")],
                port=self.contribution_port,
                health_url=f"http://127.0.0.1:{self.contribution_port}/api/v1/ready",
                env={
                    **common,
                    "CONSORTIUM_CONTRIBUTION_DATABASE_URL": database_url,
                    "CONSORTIUM_CONTRIBUTION_NATS_URL": nats_url,
                    "CONSORTIUM_CONTRIBUTION_NATS_CA_FILE": str(pki.ca_cert),
                    "CONSORTIUM_CONTRIBUTION_NATS_CERT_FILE": str(contribution_cert),
                    "CONSORTIUM_CONTRIBUTION_NATS_KEY_FILE": str(contribution_key),
                    "CONSORTIUM_CONTRIBUTION_PORT": str(self.contribution_port),
                },
            ),
            Service(
                name="gateway",
                command=[str(self.bin / "consortium-gateway")],
                port=self.gateway_port,
                health_url=f"https://127.0.0.1:{self.gateway_port}/api/v1/ready",
                env={
                    **common,
                    "CONSORTIUM_GATEWAY_PORT": str(self.gateway_port),
                    "CONSORTIUM_GATEWAY_TLS_CERT_FILE": str(gateway_cert),
                    "CONSORTIUM_GATEWAY_TLS_KEY_FILE": str(gateway_key),
                    "CONSORTIUM_GATEWAY_CA_FILE": str(pki.ca_cert),
                    "CONSORTIUM_GATEWAY_COORDINATOR_URL": f"http://127.0.0.1:{self.coordinator_port}",
                    "CONSORTIUM_GATEWAY_REGISTRY_URL": f"https://127.0.0.1:{self.registry_port}",
                    "CONSORTIUM_GATEWAY_CONTRIBUTION_URL": (
                        f"http://127.0.0.1:{self.contribution_port}"
                    ),
                    "CONSORTIUM_GATEWAY_DATABASE_URL": database_url,
                    "CONSORTIUM_GATEWAY_NATS_URL": nats_url,
                    "CONSORTIUM_GATEWAY_NATS_CERT_FILE": str(gateway_nats_cert),
                    "CONSORTIUM_GATEWAY_NATS_KEY_FILE": str(gateway_nats_key),
                    "CONSORTIUM_GATEWAY_CONSOLE_DIR": str(self.console_dir),
                },
            ),
        ]

    def _operator_password(self) -> str:
        """The admin's password on this machine: kept in var/run (0600), made on first use.

        Given to the registry as configuration, so a database that outlived ``var/`` (for
        example after ``make clean``) still gets an admin whose password is on disk.
        """
        path = self.operator_password_file
        if not path.exists() or not path.read_text().strip():
            write_private(path, (secrets.token_urlsafe(18) + "\n").encode())
        return path.read_text().strip()

    def _start_nats(self, pki: PlatformPki) -> str:
        """Our own nats-server with TLS client verification (the registry owns its config)."""
        url = f"tls://127.0.0.1:{self.nats_port}"
        if self.running_pid("nats") is not None:
            return url
        if port_open("127.0.0.1", self.nats_port):
            raise RuntimeError(
                f"port {self.nats_port} for NATS is taken by another program; "
                "free it or set CONSORTIUM_NATS_PORT"
            )
        if not self.nats_config.exists():
            # First start: no participant yet. The registry rewrites it from its database.
            server = NatsServerConfig(
                port=self.nats_port,
                store_dir=str(self.var / "nats" / "jetstream"),
                server_cert=str(pki.nats_cert),
                server_key=str(pki.nats_key),
                ca_cert=str(pki.ca_cert),
            )
            NatsAuthorizationFile(server=server, config_path=self.nats_config, pid_file=None).write(
                []
            )
        log_file = (self.log_dir / "nats.log").open("ab")
        proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.nats_config), "-P", str(self.nats_pid_file)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.root,
        )
        self.record_pid("nats", proc.pid)
        if not wait_for_port("127.0.0.1", self.nats_port, 20):
            raise RuntimeError("nats-server did not start; see var/log/nats.log")
        log.info("nats-server (mutual TLS) on %s (pid %d)", url, proc.pid)
        return url

    def up(self) -> dict[str, object]:
        """Start everything that is not running yet; return the endpoints."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ensure_postgres(self.var, port=self.postgres_port)
        database_url = self.database_url
        pki = prepare_platform_pki(self.var / "pki")
        nats_url = self._start_nats(pki)
        for service in self.services(database_url=database_url, nats_url=nats_url, pki=pki):
            self._start(service)
        coordinator = f"http://127.0.0.1:{self.coordinator_port}"
        registry = f"https://127.0.0.1:{self.registry_port}"
        gateway = f"https://127.0.0.1:{self.gateway_port}"
        endpoints: dict[str, object] = {
            "gateway_url": gateway,
            "console_url": f"{gateway}/",
            "coordinator_url": coordinator,
            "registry_url": registry,
            "metrics_url": f"http://127.0.0.1:{self.metrics_port}",
            "contribution_url": f"http://127.0.0.1:{self.contribution_port}",
            "nats_url": nats_url,
            "ca_cert": str(self.ca_cert.relative_to(self.root)),
            "operator": {
                "username": "admin",
                "password_file": str(self.operator_password_file.relative_to(self.root)),
            },
            "database_url": database_url,
            "logs": str(self.log_dir.relative_to(self.root)),
        }
        (self.run_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2) + "\n")
        return endpoints

    @property
    def database_url(self) -> str:
        """The services' database (SQLAlchemy URL, asyncpg driver)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.postgres_port}/{self.database}"

    def start(self, name: str) -> None:
        """Start one process of a platform that is up again (``nats`` or a service), after it
        stopped or crashed; waits until it is healthy."""
        pki = prepare_platform_pki(self.var / "pki")
        if name == "nats":
            self._start_nats(pki)
            return
        nats_url = f"tls://127.0.0.1:{self.nats_port}"
        services = self.services(database_url=self.database_url, nats_url=nats_url, pki=pki)
        by_name = {service.name: service for service in services}
        if name not in by_name:
            raise RuntimeError(f"unknown process {name!r}; known: nats, {', '.join(by_name)}")
        self._start(by_name[name])

    def _start(self, service: Service) -> None:
        health = service.health_url
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

    def _healthy(self, url: str) -> bool:
        verify: str | bool = str(self.ca_cert) if self.ca_cert.exists() else True
        try:
            return httpx.get(url, timeout=2, verify=verify).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, name: str) -> bool:
        """Stop recorded process ``name`` (SIGTERM, then SIGKILL after 15 s); True if it ran."""
        return bool(self._stop_all([name]))

    def down(self) -> list[str]:
        """Stop every recorded process (clients, services, our own NATS); keep data. All are
        asked at once and waited for together, so the slowest sets the time, not their sum."""
        return self._stop_all([path.stem for path in sorted(self.run_dir.glob("*.pid"))])

    def _stop_all(self, names: list[str]) -> list[str]:
        running = {name: pid for name in names if (pid := self.running_pid(name)) is not None}
        for pid in running.values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in running.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in running.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)
        return sorted(running)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``consortium-platform up|down|status``."""
    parser = argparse.ArgumentParser(prog="consortium-platform")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
