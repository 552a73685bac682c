"""Reading a job's events back from JetStream in tests."""

from __future__ import annotations

import json
from typing import Any

import nats
from consortium_core import subjects

__all__ = ["job_events"]


async def job_events(nats_url: str, job_id: str, event_type: str = "*") -> list[dict[str, Any]]:
    """Every stored event of ``job_id`` (of ``event_type``), oldest first, as JSON objects."""
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().subscribe(
        subjects.job_event(job_id, event_type), ordered_consumer=True
    )
    found = []
    try:
        while True:
            found.append(json.loads((await sub.next_msg(timeout=2)).data))
    except nats.errors.TimeoutError:
        pass
    await nc.close()
    return found
