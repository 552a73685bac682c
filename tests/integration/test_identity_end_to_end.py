"""Identity end to end: registry + real mutual-TLS nats-server + the real enroll command.

A participant enrolls with a one-time token (key made locally), connects to NATS with its
certificate, is revoked by an operator, and its live connection is cut within 10 s; audit
records published by a service are chained by the registry. The registry's
``consortium_participant_online`` follows the participant's heartbeats.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from pathlib import Path

import nats
import pytest
from consortium_client.identity import load_identity
from consortium_core import subjects
from consortium_core.contracts.audit import AuditRecord, audit_subject
from consortium_core.contracts.presence import Heartbeat, node_id_for
from consortium_devtools.infra import free_port, nats_server_binary, wait_for_port
from consortium_devtools.pki import prepare_platform_pki
from consortium_registry.natsauth.config import NatsServerConfig
from consortium_registry.natsauth.reloader import NatsAuthorizationFile
from prometheus_client.parser import text_string_to_metric_families
from support.processes import BIN
from support.registry import Registry, running_registry

pytestmark = pytest.mark.integration


def _online_metric(reg: Registry, participant: str, *, until: float | None) -> float | None:
    """``consortium_participant_online`` of ``participant``, polled until it is ``until``."""
    deadline = time.monotonic() + 10
    while True:
        with reg.client() as http:
            text = http.get(f"https://127.0.0.1:{reg.port}/metrics").text
        value = next(
            (
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "consortium_participant_online"
                and s.labels["participant"] == participant
            ),
            None,
        )
        if value == until or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_enroll_connect_revoke_and_audit(tmp_path: Path, postgres_url: str) -> None:
    pki = prepare_platform_pki(tmp_path / "pki")
    port = free_port()
    nats_conf, pid_file, store = tmp_path / "nats.conf", tmp_path / "nats.pid", tmp_path / "js"
    NatsAuthorizationFile(
        server=NatsServerConfig(
            port=port,
            store_dir=str(store),
            server_cert=str(pki.nats_cert),
            server_key=str(pki.nats_key),
            ca_cert=str(pki.ca_cert),
        ),
        config_path=nats_conf,
        pid_file=None,
    ).write([])
    nats_proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(nats_conf), "-P", str(pid_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_for_port("127.0.0.1", port, 20)
    url = f"tls://127.0.0.1:{port}"
    registry_cert, registry_key = pki.service("registry")
    settings = {
        "authorization_sink": "nats",
        "nats__url": url,
        "nats__cert_file": str(registry_cert),
        "nats__key_file": str(registry_key),
        "nats__port": str(port),
        "nats__config_file": str(nats_conf),
        "nats__pid_file": str(pid_file),
        "nats__store_dir": str(store),
        "nats__server_cert": str(pki.nats_cert),
        "nats__server_key": str(pki.nats_key),
        "metrics_refresh_s": "0.3",
    }
    try:
        with running_registry(postgres_url, tmp_path, pki_dir=pki.directory, **settings) as reg:
            participant = reg.new_participant("clinic")
            home = tmp_path / "home"
            enrolled = subprocess.run(
                [
                    str(BIN / "consortium-client"),
                    "enroll",
                    "--token",
                    reg.token_for(participant),
                    "--gateway",
                    f"https://127.0.0.1:{reg.port}",
                    "--home",
                    str(home),
                    "--ca-cert",
                    str(reg.ca_cert),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert enrolled.returncode == 0, enrolled.stderr
            assert (home / "key.pem").stat().st_mode & 0o077 == 0
            identity = load_identity(home)
            assert identity.participant_id == participant

            async def scenario() -> float:
                cut = asyncio.Event()

                async def on_disconnect() -> None:
                    cut.set()

                async def quiet(_exc: Exception) -> None:
                    return None

                ctx = identity.ssl_context_for_client()
                live = await nats.connect(
                    url,
                    tls=ctx,
                    allow_reconnect=False,
                    disconnected_cb=on_disconnect,
                    error_cb=quiet,
                )
                beat = Heartbeat(
                    participant_id=participant,
                    node_id=node_id_for(participant),
                    tasks=["digits-cnn"],
                    sent_at=time.time(),
                )
                await live.publish(subjects.heartbeat(participant), beat.model_dump_json().encode())
                await live.flush()
                with reg.admin() as admin:
                    deadline = time.monotonic() + 10
                    seen: dict = {}
                    while time.monotonic() < deadline and not seen.get("online"):
                        listed = admin.get("/participants").json()
                        seen = next(p for p in listed if p["participant_id"] == participant)
                        await asyncio.sleep(0.2)
                    assert seen["online"] is True, seen
                assert _online_metric(reg, participant, until=1.0) == 1.0
                with reg.admin() as admin:
                    started = time.monotonic()
                    revoked = admin.post(
                        f"/participants/{participant}/revoke", json={"reason": "laptop stolen"}
                    )
                assert revoked.status_code == 200, revoked.text
                assert revoked.json()["authorization_applied"] is True
                await asyncio.wait_for(cut.wait(), 10)
                assert _online_metric(reg, participant, until=None) is None  # not enrolled now
                elapsed = time.monotonic() - started
                with pytest.raises(Exception):  # noqa: B017 - refused on reconnect as well
                    await nats.connect(
                        url,
                        tls=identity.ssl_context_for_client(),
                        allow_reconnect=False,
                        error_cb=quiet,
                    )
                return elapsed

            assert asyncio.run(scenario()) < 10

            async def publish_audit() -> None:
                cert, key = pki.service("coordinator")
                ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
                ctx.load_cert_chain(str(cert), str(key))
                service = await nats.connect(url, tls=ctx)
                record = AuditRecord(
                    kind="parameter_exchange",
                    actor="service:coordinator",
                    data={"job_id": "j-audit", "digest": "ab" * 32, "bytes": 7},
                )
                await service.jetstream().publish(
                    audit_subject(record.kind), record.model_dump_json().encode()
                )
                await service.close()

            asyncio.run(publish_audit())
            with reg.admin() as admin:
                deadline = time.monotonic() + 15
                kinds: list[str] = []
                while time.monotonic() < deadline and "parameter_exchange" not in kinds:
                    kinds = [e["kind"] for e in admin.get("/audit").json()]
                    time.sleep(0.3)
                assert "parameter_exchange" in kinds
                assert {"participant_enrolled", "participant_revoked"} <= set(kinds)
                assert admin.get("/audit/verify").json()["ok"] is True
    finally:
        nats_proc.terminate()
        nats_proc.wait(10)
