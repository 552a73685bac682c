"""A real Prometheus server (Debian's ``prometheus`` binary) for integration tests.

``running_prometheus(workdir, targets)`` writes a config that scrapes each :class:`Target`
every second, starts ``prometheus`` on a free port with its storage under ``workdir``, and stops
it afterwards. A service is one ``Target(job, scheme, port, ca_file)``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from consortium_devtools.infra import free_port

from support.processes import Process

__all__ = ["Prometheus", "Target", "prometheus_binary", "running_prometheus"]


def prometheus_binary() -> str | None:
    """Path of ``prometheus`` (Debian's package; ``make install`` adds it)."""
    return shutil.which("prometheus")


@dataclass(frozen=True)
class Target:
    """One service to scrape at ``/metrics``; HTTPS targets name the CA that signed them."""

    job: str
    scheme: str
    port: int
    ca_file: Path | None = None

    def scrape_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "job_name": self.job,
            "scheme": self.scheme,
            "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}],
        }
        if self.ca_file is not None:
            config["tls_config"] = {"ca_file": str(self.ca_file)}
        return config


class Prometheus(Process):
    """``prometheus`` on a free port, scraping and evaluating rules every second."""

    def __init__(self, workdir: Path, targets: Sequence[Target], rule_files: Sequence[Path]):
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError("prometheus is not installed (Debian package 'prometheus')")
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [target.scrape_config() for target in targets],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)
        args = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(args, workdir / "prometheus.log")

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful answer of the HTTP API (``/api/v1/<path>``)."""
        body = self.http.get(f"/api/v1/{path}", params=params).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        return list(self.api("query", query=expr)["result"])

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.output()[-3000:]}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready:\n{self.output()[-3000:]}")

    def wait_targets(self, health: dict[str, str], timeout: float = 20) -> dict[str, dict]:
        """Wait until each job's target has the given health (``up``/``down``); returns the
        active targets by job."""
        deadline = time.monotonic() + timeout
        while True:
            active = {t["labels"]["job"]: t for t in self.api("targets")["activeTargets"]}
            seen = {job: active.get(job, {}).get("health") for job in health}
            if seen == health:
                return active
            if time.monotonic() > deadline:
                errors = {job: t.get("lastError") for job, t in active.items()}
                raise AssertionError(f"targets {seen}, wanted {health}; errors {errors}")
            time.sleep(0.3)

    def wait_for(self, expr: str, timeout: float = 20) -> list[dict[str, Any]]:
        """Wait until ``expr`` returns a non-empty vector, and return it."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(expr)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} stayed empty")
            time.sleep(0.3)
        return result


@contextmanager
def running_prometheus(
    workdir: Path, targets: Sequence[Target], *, rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """A ready Prometheus scraping ``targets``, stopped afterwards."""
    server = Prometheus(workdir, targets, rule_files)
    try:
        server.wait_ready()
        yield server
    finally:
        server.http.close()
        server.stop()
