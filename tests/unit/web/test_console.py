"""The console's own tests (Vitest), and the agreements between it and the Python side: the
API types come from the gateway's current OpenAPI document, the job form offers real tasks and
strategies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from consortium_coordinator.jobs.resolve import ASYNC_STRATEGIES, STRATEGIES
from consortium_devtools.openapi import gateway_openapi, render
from consortium_tasks import TASKS
from support.console import WEB


def test_the_committed_openapi_document_is_the_gateways() -> None:
    committed = (WEB / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(gateway_openapi()), (
        "the gateway's API changed: run `python -m consortium_devtools.openapi web/openapi.json` "
        "and `npm run api-types` in web/, then rebuild the console"
    )


def test_the_job_form_offers_what_the_platform_has() -> None:
    config = json.loads((WEB / "public" / "config.json").read_text())
    assert set(config["tasks"]) <= set(TASKS)
    assert config["strategies"] == [*STRATEGIES, *ASYNC_STRATEGIES]
    assert config["apiBase"] == "/api/v1"


@pytest.mark.skipif(
    shutil.which("npx") is None or not (WEB / "node_modules" / "vitest").is_dir(),
    reason="web/node_modules missing: run `make install` where npm exists",
)
def test_vitest_component_tests_pass() -> None:
    result = subprocess.run(
        ["npx", "vitest", "run"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CI": "1", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert " passed" in result.stdout
