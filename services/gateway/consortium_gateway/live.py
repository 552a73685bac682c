"""A job's events, past and live, from the ``CONSORTIUM_EVENTS`` JetStream stream.

An ordered ephemeral consumer filtered to the job's subjects replays what already happened and
then follows new events, in stream order, with nothing kept on the server afterwards. Each event
carries its stream sequence, which a client sends back as ``Last-Event-ID`` to resume after a
dropped connection without gaps or repeats. The stream ends after the job's final event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from consortium_core import subjects
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

__all__ = ["FINAL_EVENTS", "LiveEvent", "job_events"]

log = logging.getLogger(__name__)

FINAL_EVENTS = frozenset({"job_finished", "job_failed", "job_stopped"})


@dataclass(frozen=True)
class LiveEvent:
    """One event as stored: its stream sequence, type and JSON body."""

    sequence: int
    type: str
    body: dict[str, object]


async def job_events(
    nc: NatsClient, job_id: str, *, after_sequence: int = 0, idle_poll_s: float = 1.0
) -> AsyncIterator[LiveEvent]:
    """Yield the job's events after ``after_sequence``, then live ones, until its final event."""
    js = nc.jetstream()
    start = DeliverPolicy.BY_START_SEQUENCE if after_sequence else DeliverPolicy.ALL
    config = ConsumerConfig(
        deliver_policy=start, opt_start_seq=after_sequence + 1 if after_sequence else None
    )
    subject = subjects.job_event(job_id, "*")
    sub = await js.subscribe(
        subject, stream=subjects.EVENTS_STREAM, ordered_consumer=True, config=config
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_poll_s)
            except NatsTimeout:
                continue
            try:
                body = json.loads(msg.data)
                kind = str(body["type"])
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a malformed event on %s", msg.subject)
                continue
            yield LiveEvent(sequence=msg.metadata.sequence.stream, type=kind, body=body)
            if kind in FINAL_EVENTS:
                return
    finally:
        await sub.unsubscribe()
