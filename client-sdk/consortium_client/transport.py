"""Frames over NATS: chunked core-NATS messages (default) or JetStream's object store.

Both sides of the runtime (the coordinator's Grid and the participant's client runtime) use
these few functions; the framing itself is pure code in :mod:`consortium_core.wire` and
:mod:`consortium_core.chunking`. ``make bench BENCH=runtime`` measures both channels; chunked
core messages were faster on every size we tried (see docs/architecture.md), so they are the
default.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import nats
from consortium_core.chunking import Reassembler, split_frame
from consortium_core.errors import WireFormatError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = [
    "FrameHandler",
    "connect",
    "publish_frame",
    "publish_frame_via_object_store",
    "subscribe_frames",
]

log = logging.getLogger(__name__)

FrameHandler = Callable[[str, bytes | bytearray], Awaitable[None]]
OBJECT_POINTER = b"CSMOBJ1:"


async def _probe(url: str, tls: object | None, timeout_s: float) -> str | None:
    """None when a NATS connection (TLS and authorization included) succeeds, else why not.

    A real connect-and-close: a bare TCP probe would make a TLS server log a handshake error.
    nats-py keeps retrying an unreachable server even with reconnects off, hence the timeout.
    """
    seen: list[str] = []

    async def remember(exc: Exception) -> None:
        seen.append(f"{type(exc).__name__}: {exc}")

    try:
        probe = await asyncio.wait_for(
            nats.connect(
                url,
                tls=tls,
                connect_timeout=timeout_s,  # type: ignore[arg-type]
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=remember,
            ),
            timeout_s + 1,
        )
    except Exception as exc:  # refused, timed out, TLS or authorization failure
        return seen[-1] if seen else f"{type(exc).__name__}: {exc}".strip(": ")
    await probe.close()
    return None


class _QuietErrors:
    """Logs each distinct NATS error once per ``every_s`` instead of on every retry."""

    def __init__(self, every_s: float = 30.0) -> None:
        self._every_s = every_s
        self._last: dict[str, float] = {}

    async def __call__(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - self._last.get(text, -self._every_s) >= self._every_s:
            self._last[text] = now
            log.warning(
                "NATS error: %s (retrying; repeats are not logged for %.0f s)", text, self._every_s
            )


async def connect(
    url: str,
    *,
    name: str,
    tls: object | None = None,
    connect_timeout_s: float = 5.0,
    wait_forever: bool = True,
) -> NatsClient:
    """Connect to NATS, waiting with a clear log line until it answers; reconnect forever."""

    async def on_disconnect() -> None:
        log.warning("NATS connection lost (%s); reconnecting", url)

    async def on_reconnect() -> None:
        log.info("NATS connection restored (%s)", url)

    quiet = _QuietErrors()

    async def on_error(exc: Exception) -> None:
        await quiet(exc)

    attempt = 0
    while True:
        attempt += 1
        reason = await _probe(url, tls, connect_timeout_s)
        if reason is None:
            return await nats.connect(
                url,
                name=name,
                tls=tls,  # type: ignore[arg-type]
                connect_timeout=connect_timeout_s,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                pending_size=256 * 1024 * 1024,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
        if not wait_forever:
            raise ConnectionError(f"NATS at {url}: {reason}")
        delay = min(5.0, 0.5 * attempt)
        log.warning("NATS at %s not reachable (%s); retrying in %.1f s", url, reason, delay)
        await asyncio.sleep(delay)


async def publish_frame(nc: NatsClient, subject: str, buffers: Sequence[bytes]) -> int:
    """Publish one frame as chunks no larger than the server's limit; return bytes sent."""
    sent = 0
    for chunk in split_frame(buffers, transfer_id=uuid.uuid4().bytes, chunk_size=nc.max_payload):
        await nc.publish(subject, chunk)
        sent += len(chunk)
    return sent


async def publish_frame_via_object_store(
    nc: NatsClient, subject: str, buffers: Sequence[bytes], *, bucket: str
) -> int:
    """Put the frame in a JetStream object store bucket and publish a pointer to it."""
    store = await nc.jetstream().create_object_store(bucket)
    name = uuid.uuid4().hex
    data = b"".join(buffers)
    await store.put(name, data)
    await nc.publish(subject, OBJECT_POINTER + f"{bucket}/{name}".encode())
    return len(data)


async def _fetch_object(nc: NatsClient, pointer: bytes) -> bytes:
    bucket, name = pointer[len(OBJECT_POINTER) :].decode().split("/", 1)
    store = await nc.jetstream().object_store(bucket)
    result = await store.get(name)
    await store.delete(name)
    return result.data or b""


async def subscribe_frames(
    nc: NatsClient, subject: str, handler: FrameHandler, *, stale_after_s: float = 300.0
) -> Subscription:
    """Subscribe to ``subject``; call ``handler(subject, frame)`` for every complete frame.

    Chunks that cannot be parsed are logged and dropped; transfers that never complete are
    forgotten after ``stale_after_s``.
    """
    reassembler = Reassembler(max_age_s=stale_after_s)

    async def on_chunk(msg: Msg) -> None:
        now = time.monotonic()
        try:
            if msg.data.startswith(OBJECT_POINTER):
                frame: bytes | bytearray | None = await _fetch_object(nc, msg.data)
            else:
                frame = reassembler.add(msg.data, now=now)
        except (WireFormatError, ValueError) as exc:
            log.warning("dropped a malformed chunk on %s: %s", msg.subject, exc)
            return
        for stale in reassembler.drop_stale(now=now):
            log.warning("dropped incomplete transfer %s on %s", stale.hex(), subject)
        if frame is not None:
            await handler(msg.subject, frame)

    return await nc.subscribe(
        subject, cb=on_chunk, pending_msgs_limit=100_000, pending_bytes_limit=2 * 1024**3
    )
