"""NATS with mutual TLS and per-participant permissions, against a real nats-server."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from consortium_core import subjects
from consortium_devtools.infra import free_port, nats_server_binary, wait_for_port
from consortium_registry.natsauth.config import NatsServerConfig
from consortium_registry.natsauth.reloader import NatsAuthorizationFile
from support.pki import TestCA

pytestmark = pytest.mark.integration


class TlsNats:
    def __init__(self, root: Path) -> None:
        self.ca = TestCA(root / "pki")
        cert, key = self.ca.issue("server", server=True)
        self.port = free_port()
        self.url = f"tls://127.0.0.1:{self.port}"
        self.pid_file = root / "nats.pid"
        self.auth = NatsAuthorizationFile(
            server=NatsServerConfig(
                port=self.port,
                store_dir=str(root / "js"),
                server_cert=str(cert),
                server_key=str(key),
                ca_cert=str(self.ca.ca_path),
            ),
            config_path=root / "nats.conf",
            pid_file=self.pid_file,
        )

    def start(self, participants: list[str]) -> subprocess.Popen[bytes]:
        self.auth.write(participants)
        proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.auth.config_path), "-P", str(self.pid_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for_port("127.0.0.1", self.port, 20)
        return proc

    def context(
        self, cert: Path | None, key: Path | None, ca: Path | None = None
    ) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ca or self.ca.ca_path))
        if cert and key:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx


@pytest.fixture
def tls_nats(tmp_path: Path) -> Iterator[TlsNats]:
    server = TlsNats(tmp_path)
    proc = server.start(["alice", "bob"])
    yield server
    proc.terminate()
    proc.wait(10)


async def _connect(url: str, ctx: ssl.SSLContext, errors: list[str], **kw: object) -> nats.NATS:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(
        url, tls=ctx, error_cb=on_error, connect_timeout=3, allow_reconnect=False, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["no-certificate", "other-ca", "expired", "unknown-participant"])
def test_bad_certificates_are_refused(tls_nats: TlsNats, tmp_path: Path, case: str) -> None:
    if case == "no-certificate":
        ctx = tls_nats.context(None, None)
    elif case == "other-ca":
        ctx = tls_nats.context(*TestCA(tmp_path / "evil", name="Evil CA").issue("alice"))
    elif case == "expired":
        ctx = tls_nats.context(*tls_nats.ca.issue("alice-old", common_name="alice", expired=True))
    else:
        ctx = tls_nats.context(*tls_nats.ca.issue("mallory"))
    with pytest.raises(Exception):  # noqa: B017 - TLS alert or auth violation, both refusals
        asyncio.run(_connect(tls_nats.url, ctx, []))


def test_participant_is_confined_to_its_own_subjects(tls_nats: TlsNats) -> None:
    async def scenario() -> tuple[list[str], list[bytes], list[bytes]]:
        errors: list[str] = []
        alice = await _connect(tls_nats.url, tls_nats.context(*tls_nats.ca.issue("alice")), errors)
        service = await _connect(
            tls_nats.url,
            tls_nats.context(*tls_nats.ca.issue("coord", common_name="service:coordinator")),
            [],
        )
        seen_by_alice: list[bytes] = []
        seen_as_bob: list[bytes] = []

        async def alice_sees(msg: nats.aio.msg.Msg) -> None:
            seen_by_alice.append(msg.data)

        async def service_sees(msg: nats.aio.msg.Msg) -> None:
            seen_as_bob.append(msg.data)

        own = await alice.subscribe(subjects.inbox("alice"))
        await alice.subscribe(subjects.inbox("bob"), cb=alice_sees)
        await service.subscribe(subjects.reply("bob"), cb=service_sees)
        await alice.flush()  # the server holds alice's subscriptions before anyone publishes
        await service.flush()
        await alice.publish(subjects.reply("bob"), b"forged")
        await alice.publish(subjects.reply("alice"), b"mine")
        await service.publish(subjects.inbox("bob"), b"for bob")
        await service.publish(subjects.inbox("alice"), b"for alice")
        await asyncio.sleep(0.5)
        mine = await own.next_msg(timeout=10)
        await alice.close()
        await service.close()
        assert mine.data == b"for alice"
        return errors, seen_by_alice, seen_as_bob

    errors, seen_by_alice, seen_as_bob = asyncio.run(scenario())
    assert seen_by_alice == [] and seen_as_bob == []
    assert any("subscription" in e.lower() and "participant.bob" in e for e in errors), errors
    assert any("publish" in e.lower() and "participant.bob" in e for e in errors), errors


def test_revocation_cuts_a_live_connection_within_10_s(tls_nats: TlsNats) -> None:
    async def scenario() -> float:
        events: list[str] = []
        disconnected = asyncio.Event()

        async def on_disconnect() -> None:
            disconnected.set()

        ctx = tls_nats.context(*tls_nats.ca.issue("bob"))
        bob = await _connect(tls_nats.url, ctx, events, disconnected_cb=on_disconnect)
        assert bob.is_connected
        started = time.monotonic()
        await tls_nats.auth.apply(["alice"])  # bob revoked
        await asyncio.wait_for(disconnected.wait(), 10)
        elapsed = time.monotonic() - started
        await bob.close()
        with pytest.raises(Exception):  # noqa: B017 - reconnecting is refused too
            await _connect(tls_nats.url, ctx, [])
        return elapsed

    assert asyncio.run(scenario()) < 10
