"""Events and audit records published while NATS is away reach the stream once it is back,
exactly once; after the retry limit the publisher says what it lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import NatsServer
from consortium_client.transport import connect
from consortium_devtools.infra import free_port
from consortium_service.durable_publish import publish_until_stored
from nats.js.api import StreamConfig

pytestmark = pytest.mark.integration
STREAM = "DURABLE_PUBLISH_TEST"


async def _stream_messages(nc, subject: str) -> list[bytes]:
    js = nc.jetstream()
    info = await js.stream_info(STREAM)
    sub = await js.pull_subscribe(subject, stream=STREAM)
    messages = await sub.fetch(info.state.messages, timeout=5) if info.state.messages else []
    return [m.data for m in messages]


def test_a_message_published_while_nats_restarts_is_stored_once(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats", free_port())
    server.start()

    async def scenario() -> tuple[bool, bool, list[bytes]]:
        nc = await connect(server.url, name="durable-publish-test")
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=["durable.>"]))
        server.stop()
        publishing = asyncio.create_task(
            publish_until_stored(js, "durable.a", b"one", msg_id="m-1", what="test message")
        )
        await asyncio.sleep(2.0)
        assert not publishing.done()  # waiting for NATS, not failed
        server.start()
        stored = await asyncio.wait_for(publishing, 60)
        again = await publish_until_stored(js, "durable.a", b"one", msg_id="m-1", what="again")
        found = await _stream_messages(nc, "durable.a")
        await nc.close()
        return stored, again, found

    try:
        stored, again, found = asyncio.run(scenario())
    finally:
        server.stop()
    assert stored and again
    assert found == [b"one"]  # the retry with the same id did not add a second copy


def test_the_publisher_gives_up_after_its_limit_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(tmp_path / "nats", free_port())
    server.start()

    async def scenario() -> bool:
        nc = await connect(server.url, name="durable-publish-test")
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=["durable.>"]))
        server.stop()
        try:
            return await publish_until_stored(
                js, "durable.b", b"two", msg_id="m-2", what="event X", give_up_after_s=1.5
            )
        finally:
            await nc.close()

    try:
        assert asyncio.run(scenario()) is False
    finally:
        server.stop()
    assert "event X not published after" in caplog.text and "lost" in caplog.text
