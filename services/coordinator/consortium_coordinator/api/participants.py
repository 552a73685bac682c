"""``/api/v1/participants``: who is online, from heartbeats."""

from __future__ import annotations

import time

from fastapi import APIRouter

from ..jobs.schemas import ParticipantPublic
from .deps import PresenceDep

__all__ = ["router"]

router = APIRouter(prefix="/participants", tags=["participants"])


@router.get("", response_model=list[ParticipantPublic])
async def list_participants(presence: PresenceDep) -> list[ParticipantPublic]:
    """Every participant seen since the coordinator started, online or not."""
    now = time.monotonic()
    return [
        ParticipantPublic(
            participant_id=e.participant_id,
            node_id=e.node_id,
            tasks=list(e.tasks),
            online=e.online,
            seconds_since_seen=round(now - e.last_seen, 3),
        )
        for e in presence.all()
    ]
