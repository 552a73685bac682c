"""Round-end notification from a ServerApp to the runtime that hosts it.

A ServerApp written for Flower runs unchanged on Flower's own runtime and on Consortium's.
On Consortium's NATS runtime the ``Grid`` also listens for the end of each round, so that the
coordinator can checkpoint the global model and publish a ``round completed`` event. A ServerApp
calls :func:`notify_round_end` from its ``evaluate_fn``; on any other Grid it does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from flwr.app import ArrayRecord

from .errors import ConsortiumError

__all__ = ["RoundListener", "StopTraining", "notify_round_end"]


@runtime_checkable
class RoundListener(Protocol):
    """A Grid (or anything else) that wants to hear when a round has ended."""

    def on_round_end(
        self, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
    ) -> None:
        """Called with the global model after ``server_round`` and its server-side metrics."""


def notify_round_end(
    grid: object, server_round: int, arrays: ArrayRecord, metrics: Mapping[str, float]
) -> None:
    """Tell ``grid`` that ``server_round`` ended, if it listens; otherwise do nothing.

    >>> notify_round_end(object(), 1, ArrayRecord(), {"accuracy": 0.5})  # no listener: no-op
    """
    if isinstance(grid, RoundListener):
        grid.on_round_end(server_round, arrays, dict(metrics))


class StopTraining(ConsortiumError):
    """Raised from a round-end hook (an ``evaluate_fn``, the Grid's ``on_round_end``) to end a
    job normally before its last round: the privacy budget is reached, the validation loss
    stopped improving. The text says why; the job completes with it as its reason."""
