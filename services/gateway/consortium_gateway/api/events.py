"""``GET /api/v1/jobs/{id}/events``: a job's progress as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from consortium_service.problems import problems
from fastapi import APIRouter, Depends, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..errors import UpstreamUnavailable
from ..live import job_events
from .deps import ServicesDep, Viewer
from .jobs import JobId

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


async def _known_job(job_id: JobId, services: ServicesDep, operator: Viewer) -> str:
    """Checked before the stream starts, so an unknown job is a 404, not an empty stream."""
    if services.nats is None:
        raise UpstreamUnavailable("live events need NATS, which this gateway is not connected to")
    await services.jobs.get(job_id)
    return job_id


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses=problems(401, 404, 503),
)
async def stream_job_events(
    job_id: Annotated[str, Depends(_known_job)],
    services: ServicesDep,
    last_event_id: Annotated[
        int | None, Header(ge=0, description="resume after this event (sent by browsers)")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Every event of the job so far, then live ones: ``job_created``, ``job_started``,
    ``round_completed`` (metrics, timings, bytes), and the final ``job_finished``,
    ``job_failed`` or ``job_stopped``, after which the stream ends. Each event's ``id`` is its
    position in the event stream; reconnecting with ``Last-Event-ID`` resumes after it."""
    assert services.nats is not None
    async for event in job_events(services.nats, job_id, after_sequence=last_event_id or 0):
        yield ServerSentEvent(data=event.body, event=event.type, id=str(event.sequence))
