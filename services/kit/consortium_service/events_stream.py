"""The ``CONSORTIUM_EVENTS`` JetStream stream: one definition for its publisher and its readers.

The coordinator publishes job events into it; the metrics service consumes every one of them.
They (and the contribution service) call :func:`ensure_events_stream` at start-up, so whichever
starts first creates the stream and none can drift from the others' configuration (the replica
count follows :func:`consortium_service.jetstream.ensure_stream`).

>>> config = events_stream_config()
>>> config.name, config.subjects, config.max_age == 30 * 24 * 3600
('CONSORTIUM_EVENTS', ['consortium.v1.events.>'], True)
>>> config.storage.value, config.duplicate_window, config.num_replicas
('file', 120.0, 1)
"""

from __future__ import annotations

from consortium_core import subjects
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext

from consortium_service.jetstream import ensure_stream

__all__ = [
    "EVENTS_DUPLICATE_WINDOW_S",
    "EVENTS_MAX_AGE_S",
    "ensure_events_stream",
    "events_stream_config",
]

EVENTS_MAX_AGE_S = 30 * 24 * 3600
"""Events older than this leave the stream (the metrics service keeps them in Postgres)."""
EVENTS_DUPLICATE_WINDOW_S = 120.0
"""JetStream drops a second message with the same ``Nats-Msg-Id`` (the event id) within this."""


def events_stream_config(replicas: int = 1) -> StreamConfig:
    """The stream's configuration: file storage (survives a NATS restart), 30 days."""
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD],
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE_S,
        duplicate_window=EVENTS_DUPLICATE_WINDOW_S,
        num_replicas=replicas,
    )


async def ensure_events_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the events stream, or bring an existing one to :func:`events_stream_config`."""
    await ensure_stream(js, events_stream_config(replicas))
