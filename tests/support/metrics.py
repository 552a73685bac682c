"""The metrics service for integration tests: a private database, the real process, and
publishing job events the way the coordinator does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from consortium_devtools.infra import free_port

from support.processes import BIN, Process

__all__ = ["MetricsService", "private_database"]


@contextmanager
def private_database(postgres_url: str) -> Iterator[str]:
    """A new empty database (SQLAlchemy asyncpg URL), dropped afterwards."""
    name = f"consortium_metrics_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{postgres_url}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class MetricsService(Process):
    """``consortium-metrics`` on a free port."""

    def __init__(self, log: Path, *, database_url: str, nats_url: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "CONSORTIUM_METRICS_DATABASE_URL": database_url,
            "CONSORTIUM_METRICS_NATS_URL": nats_url,
            "CONSORTIUM_METRICS_PORT": str(self.port),
            **{f"CONSORTIUM_METRICS_{k.upper()}": v for k, v in settings.items()},
        }
        super().__init__([str(BIN / "consortium-metrics")], log, env)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"consortium-metrics exited:\n{self.output()[-3000:]}")
            try:
                if self.http.get("/api/v1/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"consortium-metrics not ready:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 15) -> int:
        self.http.close()
        return super().stop(timeout)
