"""How events change the projections (jobs, rounds, participants' rounds): the rules, pure.

Rounds: :func:`round_rows` turns ``round_completed`` events into rows; the newest event of a
(job, round) wins, in a batch and against what is stored. Jobs: the consumer folds each
batch's new events into one :class:`JobChange` per job (:func:`fold_jobs`, in stream order)
and the writer merges each change into the stored row with the SQL twin of :func:`merge`
(``db/writer.py``). The rules make the result independent of how events are cut into
batches, and keep a late event from moving a job backwards:

- the status only climbs: ``pending`` < ``running`` < a final status (``completed``,
  ``failed``, ``stopped``); the first final status wins, with its reason, time and metrics;
- what ``job_created`` and ``job_started`` say is kept from the first of each;
- ``last_round`` is the highest round seen.

>>> from consortium_core.contracts.events import JobCreated, JobFinished, JobStarted
>>> from consortium_core.contracts.events import RoundCompleted
>>> events = [
...     JobCreated(job_id="j", task="digits-cnn", strategy="fedavg", rounds=2, at=10.0),
...     JobStarted(job_id="j", participants=["a", "b"], at=11.0),
...     RoundCompleted(job_id="j", round=1, duration_s=0.5, bytes_sent=1, bytes_received=1,
...                    at=12.0),
...     JobFinished(job_id="j", rounds=1, metrics={"accuracy": 0.9}, duration_s=2.0, at=13.0),
...     JobStarted(job_id="j", participants=["late"], at=14.0),  # late: changes nothing
... ]
>>> [change] = fold_jobs(events)
>>> change.status, change.participants, change.last_round, change.final_metrics
('completed', ['a', 'b'], 1, {'accuracy': 0.9})
>>> merge(fold_jobs(events[:2])[0], fold_jobs(events[2:])[0]) == change
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from consortium_core.contracts.events import (
    JobCreated,
    JobEvent,
    JobFinished,
    JobStarted,
    RoundCompleted,
)
from pydantic_core import to_json

_json_text = partial(to_json, inf_nan_mode="strings")
"""JSON for Postgres's json columns: a NaN (a diverged loss) as "NaN", which JSON can hold."""

__all__ = [
    "PARTICIPANT_COLUMNS",
    "ROUND_COLUMNS",
    "STATUS_RANK",
    "JobChange",
    "JobChanges",
    "JobStatus",
    "RoundRows",
    "RoundRowsBuilder",
    "fold_jobs",
    "merge",
    "round_rows",
    "status_of",
]


class JobStatus:
    """A job's status as the events tell it: pending -> running -> completed | failed | stopped."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    FINAL = frozenset({COMPLETED, FAILED, STOPPED})
    ALL = (PENDING, RUNNING, COMPLETED, FAILED, STOPPED)


STATUS_RANK: Mapping[str, int] = {
    JobStatus.PENDING: 0,
    JobStatus.RUNNING: 1,
    JobStatus.COMPLETED: 2,
    JobStatus.FAILED: 2,
    JobStatus.STOPPED: 2,
}
"""A status moves only to a higher rank; every final status has the top rank."""

_FINAL_RANK = 2


_STATUS_OF_TYPE: Mapping[str, str] = {
    "job_created": JobStatus.PENDING,
    "job_started": JobStatus.RUNNING,
    "round_completed": JobStatus.RUNNING,
    "job_finished": JobStatus.COMPLETED,
    "job_failed": JobStatus.FAILED,
    "job_stopped": JobStatus.STOPPED,
    # says nothing about the job's state: pending ranks lowest, so it never changes it
    "contributions_scored": JobStatus.PENDING,
}


def status_of(event: JobEvent) -> str:
    """The status an event implies for its job (by its ``type``: cheaper than ``isinstance``
    on pydantic models, which matters at tens of thousands of events a second).

    >>> from consortium_core.contracts.events import JobStopped
    >>> status_of(JobStopped(job_id="j"))
    'stopped'
    """
    return _STATUS_OF_TYPE[event.type]


@dataclass(slots=True)
class JobChange:
    """What a run of events says about one job. Times are POSIX seconds. ``created_at`` is
    ``job_created``'s time; until that event is seen the row's creation time is ``first_at``,
    the earliest event's."""

    job_id: str
    first_at: float
    last_at: float
    status: str = JobStatus.PENDING
    name: str | None = None
    task: str | None = None
    client_task: str | None = None
    strategy: str | None = None
    planned_rounds: int | None = None
    min_participants: int | None = None
    config: dict[str, Any] | None = None
    created_at: float | None = None
    started_at: float | None = None
    participants: list[str] | None = None
    last_round: int | None = None
    reason: str = ""
    finished_at: float | None = None
    final_metrics: dict[str, float] | None = None
    duration_s: float | None = None

    @classmethod
    def empty(cls, job_id: str, at: float) -> JobChange:
        """A change that says nothing yet, starting at time ``at``."""
        return cls(job_id=job_id, first_at=at, last_at=at)

    @property
    def row_created_at(self) -> float:
        """The creation time to store: ``job_created``'s, or the earliest event's until then."""
        return self.created_at if self.created_at is not None else self.first_at

    def apply(self, event: JobEvent) -> None:
        """Change this job by one event (events of the job in stream order)."""
        at, kind = event.at, event.type
        if at < self.first_at:
            self.first_at = at
        if at > self.last_at:
            self.last_at = at
        if kind == "round_completed":
            assert isinstance(event, RoundCompleted)
            if self.last_round is None or event.round > self.last_round:
                self.last_round = event.round
        elif kind == "job_created" and self.task is None:
            assert isinstance(event, JobCreated)
            self.name, self.task, self.client_task = event.name, event.task, event.client_task
            self.strategy, self.planned_rounds = event.strategy, event.rounds
            self.min_participants, self.config = event.min_participants, event.config
            self.created_at = at
        elif kind == "job_started" and self.started_at is None:
            assert isinstance(event, JobStarted)
            self.started_at, self.participants = at, list(event.participants)
        status = _STATUS_OF_TYPE[kind]
        if STATUS_RANK[status] <= STATUS_RANK[self.status]:
            return
        self.status = status
        if STATUS_RANK[status] == _FINAL_RANK:
            self.finished_at = at
            self.reason = getattr(event, "reason", "")
            if isinstance(event, JobFinished):
                self.final_metrics, self.duration_s = dict(event.metrics), event.duration_s


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _first(a: Any, b: Any) -> Any:
    return a if a is not None else b


class JobChanges:
    """Folds events one at a time into one :class:`JobChange` per job (first-seen order)."""

    def __init__(self) -> None:
        self._changes: dict[str, JobChange] = {}

    def add(self, event: JobEvent) -> None:
        change = self._changes.get(event.job_id)
        if change is None:
            change = self._changes[event.job_id] = JobChange.empty(event.job_id, event.at)
        change.apply(event)

    def changes(self) -> list[JobChange]:
        return list(self._changes.values())


def fold_jobs(events: Iterable[JobEvent]) -> list[JobChange]:
    """One change per job, folding its events in the order given (jobs in first-seen order)."""
    folded = JobChanges()
    for event in events:
        folded.add(event)
    return folded.changes()


def merge(stored: JobChange, later: JobChange) -> JobChange:
    """The job after ``stored`` then ``later``: what the writer's upsert does in SQL.

    >>> from consortium_core.contracts.events import JobFailed, JobFinished
    >>> done = fold_jobs([JobFinished(job_id="j", rounds=3, duration_s=9.0, at=5.0)])[0]
    >>> late = fold_jobs([JobFailed(job_id="j", reason="restarted", at=6.0)])[0]
    >>> merged = merge(done, late)
    >>> merged.status, merged.reason, merged.finished_at
    ('completed', '', 5.0)
    """
    out = replace(
        stored,
        first_at=min(stored.first_at, later.first_at),
        last_at=max(stored.last_at, later.last_at),
        name=_first(stored.name, later.name),
        task=_first(stored.task, later.task),
        client_task=_first(stored.client_task, later.client_task),
        strategy=_first(stored.strategy, later.strategy),
        planned_rounds=_first(stored.planned_rounds, later.planned_rounds),
        min_participants=_first(stored.min_participants, later.min_participants),
        config=_first(stored.config, later.config),
        created_at=_first(stored.created_at, later.created_at),
        started_at=_first(stored.started_at, later.started_at),
        participants=_first(stored.participants, later.participants),
        last_round=_max(stored.last_round, later.last_round),
    )
    if STATUS_RANK[later.status] > STATUS_RANK[stored.status]:
        out.status = later.status
        if STATUS_RANK[later.status] == _FINAL_RANK:
            out.reason, out.finished_at = later.reason, later.finished_at
            out.final_metrics, out.duration_s = later.final_metrics, later.duration_s
    return out


ROUND_COLUMNS = (
    "job_id",
    "round",
    "metrics",
    "duration_s",
    "bytes_sent",
    "bytes_received",
    "participants",
    "failures",
    "participant_metrics",
    "checkpoint",
    "checkpoint_sha256",
    "at",
    "event_id",
)


PARTICIPANT_COLUMNS = (
    "job_id",
    "participant",
    "round",
    "metrics",
    "dp_noise_multiplier",
    "dp_sample_rate",
    "dp_steps",
    "dp_delta",
    "at",
)
_utc = datetime.fromtimestamp


@dataclass(slots=True)
class RoundRows:
    """Rows of ``metrics_rounds`` and ``metrics_participant_rounds``: tuples in the order of
    :data:`ROUND_COLUMNS` and :data:`PARTICIPANT_COLUMNS`, JSON columns as JSON text."""

    rounds: list[tuple[Any, ...]]
    participants: list[tuple[Any, ...]]


class RoundRowsBuilder:
    """Builds :class:`RoundRows` one event at a time (the newest event of a round wins)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], tuple[float, tuple[Any, ...], list[tuple[Any, ...]]]] = {}

    def add(self, event: RoundCompleted) -> None:
        key = (event.job_id, event.round)
        kept = self._rows.get(key)
        if kept is not None and event.at < kept[0]:
            return
        job_id, number, at, json = event.job_id, event.round, _utc(event.at, UTC), _json_text
        round_row = (
            job_id,
            number,
            json(event.metrics).decode(),
            event.duration_s,
            event.bytes_sent,
            event.bytes_received,
            json(event.participants).decode(),
            json(event.failures).decode(),
            json(event.participant_metrics).decode(),
            event.checkpoint,
            event.checkpoint_sha256,
            at,
            event.id,
        )
        participant_rows = []
        for participant, metrics in event.participant_metrics.items():
            steps = metrics.get("dp_steps")
            participant_rows.append(
                (
                    job_id,
                    participant,
                    number,
                    json(metrics).decode(),
                    metrics.get("dp_noise_multiplier"),
                    metrics.get("dp_sample_rate"),
                    steps if steps is None else round(steps),
                    metrics.get("dp_delta"),
                    at,
                )
            )
        self._rows[key] = (event.at, round_row, participant_rows)

    def rows(self) -> RoundRows:
        rounds, participants = [], []
        for _, round_row, participant_rows in self._rows.values():
            rounds.append(round_row)
            participants.extend(participant_rows)
        return RoundRows(rounds, participants)


def round_rows(events: Iterable[JobEvent]) -> RoundRows:
    """The rows ``round_completed`` events project to: for each (job, round) the newest event
    (latest ``at``, then the later in the order given). Other events are ignored.

    >>> from consortium_core.contracts.events import JobStopped
    >>> rc = RoundCompleted(id="e1", job_id="j", round=1, duration_s=0.5, bytes_sent=1,
    ...                     bytes_received=2, at=0.0, metrics={"accuracy": 0.5},
    ...                     participant_metrics={"h1": {"dp_noise_multiplier": 1.0,
    ...                         "dp_sample_rate": 0.1, "dp_steps": 20.0, "loss": 0.2}})
    >>> rows = round_rows([rc, JobStopped(job_id="j")])
    >>> rows.rounds[0][:3], rows.participants[0][1], rows.participants[0][4:8]
    (('j', 1, '{"accuracy":0.5}'), 'h1', (1.0, 0.1, 20, None))
    """
    builder = RoundRowsBuilder()
    for event in events:
        if event.type == "round_completed":
            assert isinstance(event, RoundCompleted)
            builder.add(event)
    return builder.rows()
