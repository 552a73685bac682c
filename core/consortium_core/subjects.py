"""NATS subject names: the one place that spells them.

A participant publishes and subscribes only under ``consortium.v1.participant.<its id>.>``, which
lets the broker confine each participant to its own subjects.

>>> inbox("hospital-1")
'consortium.v1.participant.hospital-1.in'
>>> participant_from_subject("consortium.v1.participant.hospital-1.out.reply")
'hospital-1'
>>> job_event("0f3a", "round_completed")
'consortium.v1.events.job.0f3a.round_completed'
"""

from __future__ import annotations

import re

__all__ = [
    "ALL_HEARTBEATS",
    "ALL_REPLIES",
    "EVENTS_STREAM",
    "EVENTS_WILDCARD",
    "check_participant_id",
    "heartbeat",
    "inbox",
    "job_event",
    "participant_from_subject",
    "reply",
]

PREFIX = "consortium.v1"
EVENTS_STREAM = "CONSORTIUM_EVENTS"
EVENTS_WILDCARD = f"{PREFIX}.events.>"
ALL_REPLIES = f"{PREFIX}.participant.*.out.reply"
ALL_HEARTBEATS = f"{PREFIX}.participant.*.out.heartbeat"

_PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def check_participant_id(participant_id: str) -> str:
    """Return ``participant_id`` if it can be a subject token, else raise ``ValueError``."""
    if not _PARTICIPANT_ID.match(participant_id):
        raise ValueError(
            f"invalid participant id {participant_id!r}: use 1-63 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return participant_id


def inbox(participant_id: str) -> str:
    """Subject on which a participant receives Flower messages."""
    return f"{PREFIX}.participant.{check_participant_id(participant_id)}.in"


def reply(participant_id: str) -> str:
    """Subject on which a participant sends its replies."""
    return f"{PREFIX}.participant.{check_participant_id(participant_id)}.out.reply"


def heartbeat(participant_id: str) -> str:
    """Subject on which a participant announces that it is online."""
    return f"{PREFIX}.participant.{check_participant_id(participant_id)}.out.heartbeat"


def participant_from_subject(subject: str) -> str:
    """The participant id inside a participant subject."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[2] != "participant":
        raise ValueError(f"not a participant subject: {subject!r}")
    return parts[3]


def job_event(job_id: str, event_type: str) -> str:
    """Subject of an event about a job (stored in the ``CONSORTIUM_EVENTS`` stream)."""
    return f"{PREFIX}.events.job.{job_id}.{event_type}"
