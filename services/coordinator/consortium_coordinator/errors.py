"""Typed errors of the coordinator; ``api/problems.py`` maps them to HTTP problem responses."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = [
    "CoordinatorError",
    "JobNotFoundError",
    "JobStateError",
    "JobStoppedError",
    "NotEnoughParticipantsError",
    "RoundFailedError",
]


class CoordinatorError(ConsortiumError):
    """Base class of the coordinator's errors."""


class JobNotFoundError(CoordinatorError, LookupError):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} not found")


class JobStateError(CoordinatorError):
    """The job is not in a state that allows the request (for example stopping a finished job)."""


class JobStoppedError(CoordinatorError):
    """Raised inside a running ServerApp when an operator stops its job."""


class RoundFailedError(CoordinatorError):
    """Too few participants returned a usable update for the round to count."""


class NotEnoughParticipantsError(CoordinatorError):
    """The job's minimum number of participants was not online in time."""
