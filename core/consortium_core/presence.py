"""Which participants are online, from their heartbeats (thread-safe; no I/O).

Shared by the coordinator (which schedules only online participants) and the registry (which
shows presence to operators).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pydantic import ValidationError

from . import subjects
from .contracts.presence import Heartbeat

__all__ = ["Presence", "PresenceEntry", "parse_heartbeat"]


@dataclass(frozen=True)
class PresenceEntry:
    """The last heartbeat of one participant and when it arrived (monotonic clock)."""

    participant_id: str
    node_id: int
    tasks: tuple[str, ...]
    last_seen: float
    online: bool


class Presence:
    """Presence table. A participant is online until ``timeout_s`` passes without a heartbeat."""

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._entries: dict[str, PresenceEntry] = {}
        self._lock = threading.Lock()

    def observe(self, beat: Heartbeat, *, now: float | None = None) -> bool:
        """Record a heartbeat; return True when it changes the participant's online state."""
        now = time.monotonic() if now is None else now
        with self._lock:
            before = self._entries.get(beat.participant_id)
            self._entries[beat.participant_id] = PresenceEntry(
                beat.participant_id, beat.node_id, tuple(beat.tasks), now, beat.online
            )
        return before is None or before.online != beat.online

    def expire(self, *, now: float | None = None) -> list[str]:
        """Mark participants silent for longer than the timeout offline; return their ids."""
        now = time.monotonic() if now is None else now
        gone = []
        with self._lock:
            for pid, entry in self._entries.items():
                if entry.online and now - entry.last_seen > self.timeout_s:
                    self._entries[pid] = PresenceEntry(
                        pid, entry.node_id, entry.tasks, entry.last_seen, False
                    )
                    gone.append(pid)
        return gone

    def excuse_silence(self, *, now: float | None = None) -> None:
        """The observer could hear no heartbeat until ``now`` (its own connection to NATS was
        down): count no participant's silence before then, so that an outage of NATS marks
        nobody offline by itself. Participants then have ``timeout_s`` to be heard again.

        >>> presence = Presence(timeout_s=5)
        >>> presence.observe(Heartbeat(participant_id="h1", node_id=1, tasks=[], sent_at=0), now=0)
        True
        >>> presence.excuse_silence(now=8)  # NATS was away from 1 s to 8 s
        >>> presence.expire(now=12), presence.expire(now=13.5)
        ([], ['h1'])
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            for pid, entry in self._entries.items():
                if entry.online and entry.last_seen < now:
                    self._entries[pid] = PresenceEntry(
                        pid, entry.node_id, entry.tasks, now, entry.online
                    )

    def online(self, *, task: str | None = None) -> list[PresenceEntry]:
        """Online participants, optionally only those that allow ``task``; sorted by id."""
        with self._lock:
            entries = list(self._entries.values())
        return sorted(
            (e for e in entries if e.online and (task is None or task in e.tasks)),
            key=lambda e: e.participant_id,
        )

    def all(self) -> list[PresenceEntry]:
        """Every participant ever seen, online or not."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.participant_id)

    def participant_of(self, node_id: int) -> PresenceEntry | None:
        """The participant whose Flower node id is ``node_id``."""
        with self._lock:
            for entry in self._entries.values():
                if entry.node_id == node_id:
                    return entry
        return None


def parse_heartbeat(subject: str, data: bytes) -> Heartbeat:
    """The heartbeat in ``data``, refused (``ValueError``) unless its sender owns ``subject``.

    >>> beat = Heartbeat(participant_id="h1", node_id=1, tasks=[], sent_at=0.0)
    >>> parse_heartbeat(subjects.heartbeat("h1"), beat.model_dump_json().encode()).node_id
    1
    >>> parse_heartbeat(subjects.heartbeat("h2"), beat.model_dump_json().encode())
    Traceback (most recent call last):
    ...
    ValueError: heartbeat for h1 sent on h2's subject
    """
    try:
        beat = Heartbeat.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"malformed heartbeat: {exc}") from exc
    sender = subjects.participant_from_subject(subject)
    if beat.participant_id != sender:
        raise ValueError(f"heartbeat for {beat.participant_id} sent on {sender}'s subject")
    return beat
