"""The operators' CLI, ``consortium``, run as operators run it against a real platform.

Every command is the installed executable in a subprocess, speaking HTTPS to a real gateway in
front of a real registry and coordinator (NATS and Postgres real too), with its session in a
folder of the test's own. Two participant processes train a real job that the CLI creates and
watches to the end; errors people make (a wrong password, a refused role, an expired session, a
gateway that is not there) read as one line with the documented exit code, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from consortium_devtools.infra import free_port
from support.gateway import Gateway
from support.metrics import MetricsService
from support.processes import BIN, Coordinator, client, running
from support.registry import Registry, running_registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONSORTIUM = str(BIN / "consortium")
VARIABLES = ("CONSORTIUM_GATEWAY_URL", "CONSORTIUM_TOKEN", "CONSORTIUM_CA_CERT")


@dataclass
class Platform:
    registry: Registry
    coordinator: Coordinator
    gateway: Gateway
    nats_url: str
    workdir: Path

    @property
    def url(self) -> str:
        return self.gateway.base_url.removesuffix("/api/v1")


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, database_url: str, nats_server
) -> Iterator[Platform]:
    workdir = tmp_path_factory.mktemp("operator-cli")
    (workdir / "registry").mkdir()
    with running_registry(postgres_url, workdir / "registry") as registry:
        coordinator = Coordinator(
            workdir / "coordinator.log", database_url=database_url, nats_url=nats_server.url
        )
        metrics = MetricsService(
            workdir / "metrics.log", database_url=database_url, nats_url=nats_server.url
        )
        with running(coordinator, metrics):
            coordinator.wait_healthy()
            metrics.wait_ready()
            gateway = Gateway(
                workdir,
                registry=registry,
                coordinator_url=coordinator.url,
                database_url=database_url,
                nats_url=nats_server.url,
            )
            with running(gateway):
                gateway.wait_healthy()
                yield Platform(registry, coordinator, gateway, nats_server.url, workdir)


@dataclass
class Operator:
    """One person at a terminal: a session folder of its own and a working directory.

    Every command and what it printed is appended to ``homes/transcript.txt`` for reading."""

    home: Path
    cwd: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in VARIABLES}
        environment.update({"CONSORTIUM_CLI_HOME": str(self.home), **(env or {})})
        result = subprocess.run(
            [CONSORTIUM, *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=self.cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        with (self.home.parent / "transcript.txt").open("a") as transcript:
            transcript.write(f"$ consortium {shlex.join(args)}\n[{result.returncode}]\n")
            transcript.write(result.stdout + result.stderr + "\n")
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def ok(self, *args: str, **options: object) -> str:
        result = self.run(*args, **options)  # type: ignore[arg-type]
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json"))


def _operator(platform: Platform, name: str) -> Operator:
    home = platform.workdir / "homes" / name
    cwd = platform.workdir / "cwd" / name
    cwd.mkdir(parents=True)
    home.parent.mkdir(exist_ok=True)
    return Operator(home=home, cwd=cwd)


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Operator:
    """The first admin, logged in the way `make up` users do: from var/run/endpoints.json."""
    operator = _operator(platform, "admin")
    endpoints = operator.cwd / "var" / "run" / "endpoints.json"
    endpoints.parent.mkdir(parents=True)
    endpoints.write_text(
        json.dumps(
            {
                "gateway_url": platform.url,
                "ca_cert": str(platform.gateway.ca_cert),
                "operator": {
                    "username": "admin",
                    "password_file": str(platform.registry.password_file),
                },
            }
        )
    )
    out = operator.ok("login")
    assert f"logged in to {platform.url} as admin (admin)" in out
    return operator


def test_login_whoami_and_the_errors_people_make(platform: Platform, admin: Operator) -> None:
    session = admin.home / "session.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert "admin" in admin.ok("whoami")
    assert admin.json("whoami")["role"] == "admin"  # type: ignore[index]

    stranger = _operator(platform, "stranger")
    wrong = stranger.cwd / "wrong.password"
    wrong.write_text("not-the-password\n")
    flags = ["--gateway", platform.url, "--ca", str(platform.gateway.ca_cert)]
    refused = stranger.run("login", *flags, "--username", "admin", "--password-file", str(wrong))
    assert refused.returncode == 1
    assert refused.stderr == "consortium: Unauthorized: wrong username or password\n"
    assert not (stranger.home / "session.json").exists()

    untrusted = stranger.run("login", "--gateway", platform.url, "-u", "admin",
                             "--password-file", str(wrong))  # fmt: skip
    assert untrusted.returncode == 3 and "--ca" in untrusted.stderr

    nowhere = f"https://127.0.0.1:{free_port()}"
    down = stranger.run("login", "--gateway", nowhere, "-u", "admin", "--password-file", str(wrong))
    assert down.returncode == 3
    assert f"cannot reach the gateway at {nowhere}" in down.stderr and "make up" in down.stderr
    listing = admin.run("jobs", "list", env={"CONSORTIUM_GATEWAY_URL": nowhere})
    assert listing.returncode == 1 and "not logged in" in listing.stderr  # no token for it
    listing = admin.run(
        "jobs", "list", env={"CONSORTIUM_GATEWAY_URL": nowhere, "CONSORTIUM_TOKEN": "t"}
    )
    assert listing.returncode == 3

    forged = admin.run("whoami", env={"CONSORTIUM_TOKEN": "v1.forged.token"})
    assert forged.returncode == 1 and "log in again" in forged.stderr

    expired = _operator(platform, "expired")
    expired.home.mkdir(parents=True)
    stored = json.loads(session.read_text())
    (expired.home / "session.json").write_text(
        json.dumps({**stored, "expires_at": "2020-01-01T00:00:00Z"})
    )
    late = expired.run("whoami")
    assert late.returncode == 1
    assert "expired" in late.stderr and "log in again: consortium login" in late.stderr


def test_participants_tokens_and_revocation(admin: Operator) -> None:
    out = admin.ok(
        "participants", "create", "cli-clinic", "--name", "Clinic", "--organisation", "Org"
    )
    assert "consortium tokens create cli-clinic" in out
    taken = admin.run("participants", "create", "cli-clinic")
    assert taken.returncode == 1 and taken.stderr.startswith("consortium: Conflict")

    token = admin.run("tokens", "create", "cli-clinic", "--ttl-s", "600")
    assert token.returncode == 0
    assert re.fullmatch(r"\S{16,}\n", token.stdout), token.stdout
    assert "not shown again" in token.stderr

    listed = admin.json("participants", "list")
    assert isinstance(listed, list)
    assert any(p["participant_id"] == "cli-clinic" and p["status"] == "active" for p in listed)

    revoked = admin.ok("participants", "revoke", "cli-clinic", "--reason", "left the consortium")
    assert "participant cli-clinic revoked" in revoked
    assert admin.json("participants", "show", "cli-clinic")["status"] == "revoked"  # type: ignore[index]
    assert "cli-clinic" in admin.ok("participants", "list", "--status", "revoked")
    missing = admin.run("participants", "show", "no-such-clinic")
    assert missing.returncode == 1 and missing.stderr.startswith("consortium: Not Found")


def test_a_job_created_watched_to_the_end_and_downloaded(
    platform: Platform, admin: Operator
) -> None:
    names = ["cli-a", "cli-b"]
    clients = [
        client(
            platform.workdir / f"{name}.log",
            name,
            platform.nats_url,
            task="breast-cancer-logreg",
            node_config=f"partition-id={i} num-partitions=2",
        )
        for i, name in enumerate(names)
    ]
    with running(*clients):
        platform.coordinator.wait_online(names)
        watched = admin.run(
            "jobs", "create", "--task", "breast-cancer-logreg", "--rounds", "2",
            "--min-participants", "2", "--name", "cli-job", "--config", "local-epochs=1",
            "--watch", timeout=240,
        )  # fmt: skip
    assert watched.returncode == 0, (watched.stdout, watched.stderr)
    lines = watched.stdout.splitlines()
    created = re.fullmatch(r"job (\S+) created: task breast-cancer-logreg, 2 rounds, .*", lines[0])
    assert created, lines
    job_id = created.group(1)
    assert any(line.startswith("round 0/2 (initial evaluation): ") for line in lines), lines
    assert any(re.match(r"round 1/2: .*sent .*received .*2 participants", ln) for ln in lines)
    assert any(line.startswith("round 2/2: ") for line in lines), lines
    assert lines[-1].startswith(f"job {job_id} completed: 2 rounds in ")

    rounds = admin.json("jobs", "rounds", job_id)
    assert isinstance(rounds, list) and [r["number"] for r in rounds] == [0, 1, 2]
    table = admin.ok("jobs", "rounds", job_id).splitlines()
    assert table[0].split()[:3] == ["ROUND", "DURATION", "SENT"] and len(table) == 4

    shown = admin.json("jobs", "show", job_id)
    assert shown["status"] == "completed" and shown["run_config"]["local-epochs"] == 1  # type: ignore[index]
    assert job_id in admin.ok("jobs", "list", "--status", "completed")

    model = admin.cwd / "model.safetensors"
    out = admin.ok("jobs", "model", job_id, "-o", str(model))
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert f"sha256:      {digest} (verified)" in out
    assert "task:        breast-cancer-logreg" in out and "round:       2" in out
    assert not list(admin.cwd.glob(".*.part"))

    replay = admin.run("jobs", "watch", job_id, "--json")
    assert replay.returncode == 0
    events = [json.loads(line) for line in replay.stdout.splitlines()]
    assert events[0]["event"] == "job_created" and events[-1]["event"] == "job_finished"
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)

    assert "differential privacy" in admin.ok("jobs", "privacy", job_id)
    again = admin.run("jobs", "stop", job_id)
    assert again.returncode == 1 and again.stderr.startswith("consortium: ")

    verified = admin.ok("audit", "verify")
    assert re.fullmatch(r"audit log intact: \d+ entries checked\n", verified)
    export = admin.cwd / "audit.ndjson"
    admin.ok("audit", "export", "-o", str(export))
    kinds = [json.loads(line)["kind"] for line in export.read_text().splitlines()]
    assert "participant_revoked" in kinds


def test_a_viewer_reads_but_is_refused_a_job_with_a_readable_403(
    platform: Platform, admin: Operator
) -> None:
    password = admin.cwd / "viewer.password"
    password.write_text("viewer-password-0123\n")
    out = admin.ok(
        "operators", "create", "cli-viewer", "--role", "viewer", "--password-file", str(password)
    )
    assert "operator cli-viewer created with role viewer" in out
    assert "cli-viewer" in admin.ok("operators", "list")

    viewer = _operator(platform, "viewer")
    viewer.ok(
        "login", "--gateway", platform.url, "--ca", str(platform.gateway.ca_cert),
        "--username", "cli-viewer", "--password-file", str(password),
    )  # fmt: skip
    assert viewer.json("whoami")["role"] == "viewer"  # type: ignore[index]
    assert viewer.ok("jobs", "list").startswith("ID ")
    denied = viewer.run("jobs", "create", "--task", "breast-cancer-logreg")
    assert denied.returncode == 1
    assert denied.stderr == (
        "consortium: Forbidden: operator 'cli-viewer' has role 'viewer'; "
        "this needs job_operator or above\n"
    )
    assert viewer.run("operators", "list").returncode == 1

    assert viewer.ok("logout").strip() == "logged out"
    assert viewer.run("whoami").returncode == 1
