"""The web console in a real browser against a real platform.

The platform is the one `make up` starts (`consortium-platform up`), rooted in a temporary
directory with free ports and its own database; two simulated hospitals enroll and run as in
the demo. Then `npm run test:e2e` in web/ drives Debian's Chromium with playwright-core through
sign-in, job creation and the live chart (web/e2e/console.e2e.ts), and leaves screenshots
under var/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from consortium_devtools.hospitals import start_hospitals, wait_online
from consortium_devtools.platform import Platform
from support.console import WEB, chromium_binary, missing_for_browser_tests, spki_pin
from support.own_platform import operator_for, own_platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
HOSPITALS = 2


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Platform]:
    missing = missing_for_browser_tests()
    if missing:
        pytest.skip(missing)
    with own_platform(
        tmp_path_factory.mktemp("platform"),
        postgres_url,
        f"consortium_console_test_{os.getpid()}",
        env={"CONSORTIUM_GATEWAY_CONSOLE_DIR": str(WEB / "dist")},
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
def endpoints(platform: Platform) -> dict[str, Any]:
    endpoints, operator = operator_for(platform)
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
