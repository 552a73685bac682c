"""Job events published to the ``CONSORTIUM_EVENTS`` JetStream stream (version 1).

Each event is a pydantic model with a ``type`` discriminator; :func:`parse_event` reads any of
them back.

>>> e = RoundCompleted(job_id="j1", round=2, metrics={"accuracy": 0.9}, duration_s=0.1,
...                    bytes_sent=10, bytes_received=12, participants=["a", "b"])
>>> parse_event(e.model_dump_json()).round
2
>>> diverged = e.model_copy(update={"metrics": {"loss": float("nan")}})
>>> parse_event(diverged.model_dump_json()).metrics
{'loss': nan}
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "ContributionsScored",
    "JobCreated",
    "JobEvent",
    "JobFailed",
    "JobFinished",
    "JobStarted",
    "JobStopped",
    "RoundCompleted",
    "parse_event",
    "round_event_id",
]


def _new_event_id() -> str:
    return uuid.uuid4().hex


def round_event_id(job_id: str, server_round: int) -> str:
    """The id of a job's ``round_completed`` event for ``server_round``: the same every time,
    so that a coordinator that republishes it after a restart adds nothing twice.

    >>> round_event_id("0f" * 16, 12)
    '0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f.round.12'
    """
    return f"{job_id}.round.{server_round}"


class _Event(BaseModel):
    # A diverged round's loss is NaN: JSON has no NaN, and pydantic would write null, which no
    # float field accepts back. As the string "NaN" it stays valid JSON and parses as a float.
    model_config = ConfigDict(ser_json_inf_nan="strings")

    v: int = 1
    id: str = Field(
        default_factory=_new_event_id,
        min_length=1,
        max_length=64,
        description="unique per event: consumers store each id once; JetStream dedups on it",
    )
    job_id: str
    at: float = Field(default_factory=time.time)


class JobCreated(_Event):
    """An operator created a job."""

    type: Literal["job_created"] = "job_created"
    task: str
    strategy: str
    rounds: int
    config: dict[str, Any] = Field(default_factory=dict)
    name: str = ""
    client_task: str = ""
    min_participants: int = 1


class JobStarted(_Event):
    """The coordinator started the job's ServerApp with these participants online."""

    type: Literal["job_started"] = "job_started"
    participants: list[str]


class RoundCompleted(_Event):
    """A round ended: server-side metrics, wall time and bytes moved by the transport."""

    type: Literal["round_completed"] = "round_completed"
    round: int
    metrics: dict[str, float] = Field(default_factory=dict)
    duration_s: float
    bytes_sent: int
    bytes_received: int
    participants: list[str] = Field(default_factory=list)
    failures: dict[str, str] = Field(default_factory=dict, description="participant -> reason")
    participant_metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="participant -> what it reported with its update"
    )
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    updates: dict[str, str] = Field(
        default_factory=dict,
        description="participant -> its trained model in the coordinator's updates bucket, "
        "for jobs whose server may see each update (contributions)",
    )


class JobFinished(_Event):
    """The job completed: all its rounds, or fewer when ``reason`` says why it ended early
    (privacy budget reached, early stopping)."""

    type: Literal["job_finished"] = "job_finished"
    rounds: int
    metrics: dict[str, float] = Field(default_factory=dict)
    duration_s: float
    reason: str = ""


class JobFailed(_Event):
    """The job stopped on an error; ``reason`` says what a person can do about it."""

    type: Literal["job_failed"] = "job_failed"
    reason: str


class JobStopped(_Event):
    """An operator stopped the job."""

    type: Literal["job_stopped"] = "job_stopped"
    reason: str = "stopped by operator"


class ContributionsScored(_Event):
    """The contribution service scored a round (or says why it could not): each
    participant's value for that round. Its id is the job and round, so a redelivered round
    publishes nothing twice."""

    type: Literal["contributions_scored"] = "contributions_scored"
    round: int
    method: str
    scored: bool
    values: dict[str, float] = Field(default_factory=dict)
    reason: str = ""


JobEvent = Annotated[
    JobCreated
    | JobStarted
    | RoundCompleted
    | JobFinished
    | JobFailed
    | JobStopped
    | ContributionsScored,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)


def parse_event(data: str | bytes) -> JobEvent:
    """Parse any job event from its JSON."""
    return _ADAPTER.validate_json(data)
