"""Resuming a job after the coordinator restarted: where it stopped, and a strategy that goes on
numbering rounds from there.

The runtime puts the last checkpointed round and its global model into the ServerApp's
``context.state`` (:func:`set_resume_point`); a ServerApp that can resume reads it
(:func:`resume_point`), starts from that model, runs only the rounds left, and wraps its
strategy in :class:`RoundOffset` so that participants and the round hook see the job's own round
numbers (participants' DP-SGD schedules and ledgers count by them). A ServerApp that ignores it
starts over; the runtime resumes only the built-in ServerApps (see the coordinator's runner).

Server-side state beyond the global model is not kept: FedAdam's moments, FedAvgM's momentum and
the fair sampler's history start afresh at the resumed round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

__all__ = ["ResumePoint", "RoundOffset", "resume_point", "set_resume_point"]

_ARRAYS = "consortium.resume.arrays"
_INFO = "consortium.resume.info"


@dataclass(frozen=True)
class ResumePoint:
    """The last round the job completed and stored, and the global model after it."""

    server_round: int
    arrays: ArrayRecord


def set_resume_point(state: RecordDict, server_round: int, arrays: ArrayRecord) -> None:
    """Tell the ServerApp to go on after ``server_round`` from ``arrays``.

    >>> state = RecordDict()
    >>> set_resume_point(state, 3, ArrayRecord())
    >>> resume_point(state).server_round
    3
    """
    state[_ARRAYS] = arrays
    state[_INFO] = ConfigRecord({"server-round": server_round})


def resume_point(state: RecordDict) -> ResumePoint | None:
    """Where to resume, or None for a job that starts from the beginning.

    >>> resume_point(RecordDict()) is None
    True
    """
    if _INFO not in state.config_records or _ARRAYS not in state.array_records:
        return None
    return ResumePoint(int(state[_INFO]["server-round"]), state[_ARRAYS])  # type: ignore[arg-type]


class RoundOffset(Strategy):
    """``strategy`` with every round number moved on by ``offset``: round 1 of a resumed
    ``Strategy.start`` is the job's round ``offset + 1``."""

    def __init__(self, strategy: Strategy, offset: int) -> None:
        self.strategy = strategy
        self.offset = offset

    def __repr__(self) -> str:
        return f"RoundOffset({self.strategy!r}, +{self.offset})"

    def summary(self) -> None:
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_train(server_round + self.offset, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.strategy.aggregate_train(server_round + self.offset, replies)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round + self.offset, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round + self.offset, replies)
