"""``consortium jobs model``: the file is kept only when its SHA-256 is the one announced.

A small ``http.server`` in a thread stands in for the gateway's ``GET /api/v1/jobs/{id}/model``
so the announced checksum can be made wrong on purpose; the integration test downloads a real
model from the real gateway.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from consortium_cli.main import main

MODEL = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 64
GOOD = hashlib.sha256(MODEL).hexdigest()


class _Model(BaseHTTPRequestHandler):
    announced = GOOD

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(MODEL)))
        self.send_header("Content-Disposition", 'attachment; filename="j1-round-3.safetensors"')
        self.send_header("X-Consortium-Task", "digits-cnn")
        self.send_header("X-Consortium-Round", "3")
        self.send_header("X-Consortium-Job-Status", "completed")
        self.send_header("X-Consortium-Metrics", "accuracy=0.97,loss=0.1")
        self.send_header("X-Consortium-Sha256", self.announced)
        self.end_headers()
        self.wfile.write(MODEL)


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Model]]:
    handler = type("Handler", (_Model,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("CONSORTIUM_GATEWAY_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("CONSORTIUM_TOKEN", "t")
    monkeypatch.setenv("CONSORTIUM_CLI_HOME", str(tmp_path / "cli"))
    monkeypatch.chdir(tmp_path)
    yield handler
    server.shutdown()
    server.server_close()


def test_the_model_is_written_and_its_checksum_verified(
    gateway: type[_Model], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "model", "j1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    written = tmp_path / "j1-round-3.safetensors"
    assert written.read_bytes() == MODEL
    assert result == {
        "job_id": "j1",
        "task": "digits-cnn",
        "round": 3,
        "job_status": "completed",
        "metrics": {"accuracy": 0.97, "loss": 0.1},
        "sha256": GOOD,
        "sha256_verified": True,
        "bytes": len(MODEL),
        "path": "j1-round-3.safetensors",
    }


def test_a_wrong_checksum_keeps_nothing_and_exits_1(
    gateway: type[_Model], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.announced = "0" * 64
    target = tmp_path / "model.safetensors"
    assert main(["jobs", "model", "j1", "-o", str(target)]) == 1
    assert "consortium: the model written has sha256" in capsys.readouterr().err
    assert list(tmp_path.glob("*.safetensors*")) == [] and not target.exists()
