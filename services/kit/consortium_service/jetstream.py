"""The JetStream streams and object stores the services keep, with the replica count their
settings name (``jetstream_replicas``).

Every service that needs a stream makes sure of it at start-up, so whichever starts first
creates it. An existing stream is brought to its definition, except that its replica count is
never lowered: a service configured for 1 leaves a stream an operator raised to 3 (``nats stream
edit --replicas 3``) at 3. Raising the setting raises the stream's replicas at the next start,
as a clustered JetStream allows; a single server refuses more than 1, and the service then
stops with :class:`JetStreamSetupError` naming the stream and the server's reason.

>>> audit_stream_config(3).num_replicas, audit_stream_config(3).storage.value
(3, 'file')
"""

from __future__ import annotations

import asyncio
import logging

from consortium_core.contracts.audit import AUDIT_STREAM, AUDIT_WILDCARD
from nats.js.api import ObjectStoreConfig, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServerError
from nats.js.object_store import ObjectStore

__all__ = [
    "JetStreamSetupError",
    "audit_stream_config",
    "ensure_object_store",
    "ensure_stream",
]

log = logging.getLogger(__name__)

REFUSALS = (BadRequestError, ServerError)
"""What JetStream answers a definition it will not take: 400 (a stream of that name exists with
another definition) or 500 (more replicas than a single server holds)."""
OBJECT_STORE_STREAM = "OBJ_{bucket}"
"""The stream behind an object store bucket (nats-py's and the server's naming)."""


class JetStreamSetupError(RuntimeError):
    """A stream or object store could not be created or brought to its definition."""


def audit_stream_config(replicas: int = 1) -> StreamConfig:
    """``CONSORTIUM_AUDIT``: audit records on file until the registry chains them."""
    return StreamConfig(
        name=AUDIT_STREAM,
        subjects=[AUDIT_WILDCARD],
        storage=StorageType.FILE,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create stream ``config.name``, or bring the existing one to ``config`` keeping the
    larger replica count."""
    try:
        await js.add_stream(config)
        return
    except REFUSALS as exc:
        refusal = exc  # exists with another definition, or the server refuses this one
    try:
        current = (await js.stream_info(str(config.name))).config
    except NotFoundError:
        raise _setup_error(f"stream {config.name}", config.num_replicas, refusal) from refusal
    replicas = max(config.num_replicas or 1, current.num_replicas or 1)
    try:
        await js.update_stream(config.evolve(num_replicas=replicas))
    except REFUSALS as exc:
        raise _setup_error(f"stream {config.name}", replicas, exc) from exc
    if replicas > (current.num_replicas or 1):
        await _until_replicated(js, str(config.name), replicas)


async def ensure_object_store(js: JetStreamContext, config: ObjectStoreConfig) -> ObjectStore:
    """Create bucket ``config.bucket``, or bring the existing one to ``config``'s ttl and at
    least its replica count; return the store."""
    bucket = str(config.bucket)
    try:
        return await js.create_object_store(bucket, config=config)
    except REFUSALS as exc:
        refusal = exc
    stream = OBJECT_STORE_STREAM.format(bucket=bucket)
    try:
        current = (await js.stream_info(stream)).config
    except NotFoundError:
        raise _setup_error(f"object store {bucket}", config.replicas, refusal) from refusal
    changes: dict[str, object] = {}
    if (current.num_replicas or 1) < config.replicas:
        changes["num_replicas"] = config.replicas
    if config.ttl is not None and current.max_age != config.ttl:
        changes["max_age"] = config.ttl
    if changes:
        try:
            await js.update_stream(current.evolve(**changes))
        except REFUSALS as exc:
            raise _setup_error(f"object store {bucket}", config.replicas, exc) from exc
        if "num_replicas" in changes:
            await _until_replicated(js, stream, config.replicas)
    return await js.object_store(bucket)


async def _until_replicated(
    js: JetStreamContext, stream: str, replicas: int, within_s: float = 30.0
) -> None:
    """Wait until a stream whose replicas were raised has a leader and its new followers caught
    up (writes time out meanwhile); after ``within_s`` go on with a warning (JetStream goes on
    replicating)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        cluster = (await js.stream_info(stream)).cluster
        followers = (cluster.replicas or []) if cluster else []
        if cluster and cluster.leader and len(followers) == replicas - 1:
            if all(peer.current and not peer.offline for peer in followers):
                return
        await asyncio.sleep(0.25)
    log.warning("stream %s: %d replicas asked for, not all caught up yet", stream, replicas)


def _setup_error(what: str, replicas: int | None, exc: APIError) -> JetStreamSetupError:
    return JetStreamSetupError(
        f"JetStream refused {what} with {replicas or 1} replica(s): {exc.description}"
        " (a single NATS server holds 1 replica; more need a JetStream cluster of at least"
        " that many servers: set jetstream_replicas accordingly)"
    )
