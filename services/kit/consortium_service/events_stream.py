"""The ``CONSORTIUM_EVENTS`` JetStream stream: one definition for its publisher and its readers.

The coordinator publishes job events into it; the metrics service consumes every one of them.
Both call :func:`ensure_events_stream` at start-up, so whichever starts first creates the
stream and neither can drift from the other's configuration.

>>> config = events_stream_config()
>>> config.name, config.subjects, config.max_age == 30 * 24 * 3600
('CONSORTIUM_EVENTS', ['consortium.v1.events.>'], True)
>>> config.storage.value, config.duplicate_window
('file', 120.0)
"""

from __future__ import annotations

from consortium_core import subjects
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError

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


def events_stream_config() -> StreamConfig:
    """The stream's configuration: file storage (survives a NATS restart), 30 days."""
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD],
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE_S,
        duplicate_window=EVENTS_DUPLICATE_WINDOW_S,
    )


async def ensure_events_stream(js: JetStreamContext) -> None:
    """Create the events stream, or bring an existing one to :func:`events_stream_config`."""
    config = events_stream_config()
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)
