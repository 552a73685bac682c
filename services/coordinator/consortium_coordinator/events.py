"""Publishing job events to the ``CONSORTIUM_EVENTS`` JetStream stream."""

from __future__ import annotations

import time
from datetime import datetime

from consortium_core import subjects
from consortium_core.contracts.events import JobEvent
from consortium_service.durable_publish import publish_until_stored
from consortium_service.events_stream import ensure_events_stream
from nats.aio.client import Client as NatsClient

__all__ = ["EventPublisher", "event_time"]


def event_time(moment: datetime | None) -> float:
    """An event's ``at`` from the time stored with the job, so that readers of the events (the
    metrics service's read model) show the same times as the jobs API."""
    return moment.timestamp() if moment is not None else time.time()


class EventPublisher:
    """Publishes events durably: while NATS is away the job waits for it (up to the retry
    limit); an event still not stored then is logged as lost, never fatal to a job."""

    def __init__(self, nc: NatsClient) -> None:
        self._js = nc.jetstream()

    async def ensure_stream(self, replicas: int = 1) -> None:
        """Create the events stream if missing (the kit's one definition, shared with metrics)."""
        await ensure_events_stream(self._js, replicas)

    async def publish(self, event: JobEvent) -> None:
        """Publish ``event`` on its job's subject."""
        await publish_until_stored(
            self._js,
            subjects.job_event(event.job_id, event.type),
            event.model_dump_json().encode(),
            msg_id=event.id,
            what=f"event {event.type} ({event.id}) of job {event.job_id}",
        )
