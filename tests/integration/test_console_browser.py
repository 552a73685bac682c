"""The web console in a real browser against a real platform.

The platform is the one `make up` starts (`consortium-platform up`), rooted in a temporary
directory with free ports and its own database; two simulated hospitals enroll and run as in
the demo. Then `npm run test:e2e` in web/ drives Debian's Chromium with playwright-core through
sign-in, job creation and the live chart (web/e2e/console.e2e.ts), and leaves screenshots
under var/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from consortium_devtools.enrollment import OperatorSession
from consortium_devtools.hospitals import start_hospitals, wait_online
from consortium_devtools.infra import free_port
from consortium_devtools.platform import Platform
from support.console import WEB, chromium_binary, missing_for_browser_tests, spki_pin

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
HOSPITALS = 2


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Platform]:
    missing = missing_for_browser_tests()
    if missing:
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("platform")
    database = f"consortium_console_test_{os.getpid()}"
    env = {
        "CONSORTIUM_COORDINATOR_PORT": str(free_port()),
        "CONSORTIUM_REGISTRY_PORT": str(free_port()),
        "CONSORTIUM_METRICS_PORT": str(free_port()),
        "CONSORTIUM_CONTRIBUTION_PORT": str(free_port()),
        "CONSORTIUM_GATEWAY_PORT": str(free_port()),
        "CONSORTIUM_NATS_PORT": str(free_port()),
        "CONSORTIUM_PLATFORM_DATABASE": database,
        "CONSORTIUM_GATEWAY_CONSOLE_DIR": str(WEB / "dist"),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # Platform reads its ports here; the services inherit them
    command = [str(Path(sys.executable).parent / "consortium-platform"), "--root", str(root)]
    try:
        up = subprocess.run([*command[:1], "up", *command[1:]], capture_output=True, text=True)
        platform = Platform(root)
        if up.returncode != 0:
            logs = "\n".join(p.read_text()[-2000:] for p in platform.log_dir.glob("*.log"))
            pytest.fail(f"consortium-platform up failed: {up.stderr}\n{logs}")
        yield platform
    finally:
        subprocess.run([*command[:1], "down", *command[1:]], capture_output=True, check=False)
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


@pytest.fixture(scope="module")
def endpoints(platform: Platform) -> dict[str, Any]:
    endpoints: dict[str, Any] = json.loads((platform.run_dir / "endpoints.json").read_text())
    operator = OperatorSession(
        endpoints["gateway_url"],
        platform.root / endpoints["ca_cert"],
        platform.root / endpoints["operator"]["password_file"],
    )
    names = start_hospitals(
        platform,
        endpoints,
        operator,
        task="digits-cnn",
        count=HOSPITALS,
        partition="iid",
        seed=7,
    )
    wait_online(operator.http, names, timeout_s=120)
    return endpoints


def test_the_console_in_chromium(platform: Platform, endpoints: dict[str, Any]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CONSORTIUM_E2E_URL": endpoints["console_url"],
        "CONSORTIUM_E2E_USERNAME": endpoints["operator"]["username"],
        "CONSORTIUM_E2E_PASSWORD": (platform.root / endpoints["operator"]["password_file"])
        .read_text()
        .strip(),
        "CONSORTIUM_E2E_SPKI": spki_pin(platform.var / "pki" / "gateway-server.crt"),
        "CONSORTIUM_E2E_CHROMIUM": chromium_binary() or "",
        "CONSORTIUM_E2E_SCREENSHOTS": str(SCREENSHOTS),
        "CONSORTIUM_E2E_PARTICIPANTS": str(HOSPITALS),
    }
    result = subprocess.run(
        ["npx", "vitest", "run", "--config", "vitest.e2e.config.ts", "--reporter=verbose"],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    shots = {p.name for p in SCREENSHOTS.glob("*.png")}
    assert {"job-live.png", "job-completed.png", "job-zh.png"} <= shots, (shots, output[-3000:])
