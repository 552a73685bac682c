"""A platform of a test's own (``consortium-platform up`` in a temporary root, free ports, its
own database), stopped and its database dropped at the end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from consortium_devtools.enrollment import OperatorSession
from consortium_devtools.infra import free_port
from consortium_devtools.platform import Platform

__all__ = ["operator_for", "own_platform"]

PORTS = ("COORDINATOR", "REGISTRY", "METRICS", "CONTRIBUTION", "GATEWAY", "NATS")


@contextmanager
def own_platform(
    root: Path,
    postgres_url: str,
    database: str,
    *,
    env: Mapping[str, str] | None = None,
    services_env: Mapping[str, str] | None = None,
) -> Iterator[Platform]:
    """Bring the platform up under ``root``; ``env`` stays set while it runs (the platform and
    the test read its ports there), ``services_env`` is given to the services only."""
    settings = {
        **{f"CONSORTIUM_{name}_PORT": str(free_port()) for name in PORTS},
        "CONSORTIUM_PLATFORM_DATABASE": database,
        **(env or {}),
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    command = [str(Path(sys.executable).parent / "consortium-platform"), "--root", str(root)]
    try:
        up = subprocess.run(
            [command[0], "up", *command[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, **(services_env or {})},
        )
        platform = Platform(root)
        if up.returncode != 0:
            logs = "\n".join(p.read_text()[-2000:] for p in platform.log_dir.glob("*.log"))
            pytest.fail(f"consortium-platform up failed: {up.stderr}\n{logs}")
        yield platform
    finally:
        subprocess.run([command[0], "down", *command[1:]], capture_output=True, check=False)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        asyncio.run(_drop(postgres_url, database))


async def _drop(postgres_url: str, database: str) -> None:
    conn = await asyncpg.connect(f"{postgres_url}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def operator_for(platform: Platform) -> tuple[dict[str, Any], OperatorSession]:
    """The platform's endpoints and a signed-in operator session on its gateway."""
    endpoints: dict[str, Any] = json.loads((platform.run_dir / "endpoints.json").read_text())
    operator = OperatorSession(
        endpoints["gateway_url"],
        platform.root / endpoints["ca_cert"],
        platform.root / endpoints["operator"]["password_file"],
    )
    return endpoints, operator
