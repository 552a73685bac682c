"""Heartbeat that a participant's client runtime publishes while it is online."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

__all__ = ["Heartbeat", "node_id_for"]


def node_id_for(participant_id: str) -> int:
    """Flower node id of a participant: stable, positive, 63-bit, derived from its id.

    >>> node_id_for("hospital-1") == node_id_for("hospital-1") > 0
    True
    """
    digest = hashlib.sha256(participant_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF or 1


class Heartbeat(BaseModel):
    """Sent every few seconds; ``online=False`` when the runtime stops cleanly."""

    v: int = 1
    participant_id: str
    node_id: int
    tasks: list[str] = Field(description="tasks this participant has installed and allows")
    online: bool = True
    busy: bool = False
    sdk_version: str = "0.1.0"
    sent_at: float
