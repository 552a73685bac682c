"""Publishing job events to the ``CONSORTIUM_EVENTS`` JetStream stream."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from consortium_core import subjects
from consortium_core.contracts.events import JobEvent
from consortium_service.events_stream import ensure_events_stream
from nats.aio.client import Client as NatsClient

__all__ = ["EventPublisher", "event_time"]

log = logging.getLogger(__name__)


def event_time(moment: datetime | None) -> float:
    """An event's ``at`` from the time stored with the job, so that readers of the events (the
    metrics service's read model) show the same times as the jobs API."""
    return moment.timestamp() if moment is not None else time.time()


class EventPublisher:
    """Publishes events durably; a failure to publish is logged, never fatal to a job."""

    def __init__(self, nc: NatsClient) -> None:
        self._js = nc.jetstream()

    async def ensure_stream(self) -> None:
        """Create the events stream if missing (the kit's one definition, shared with metrics)."""
        await ensure_events_stream(self._js)

    async def publish(self, event: JobEvent) -> None:
        """Publish ``event`` on its job's subject."""
        subject = subjects.job_event(event.job_id, event.type)
        try:
            await self._js.publish(
                subject,
                event.model_dump_json().encode(),
                timeout=5,
                headers={"Nats-Msg-Id": event.id},
            )
        except Exception as exc:  # NATS down: the job goes on, the log says what was lost
            log.warning("event %s for job %s not published: %s", event.type, event.job_id, exc)
