"""A minimum participation guarantee on top of any strategy's client sampling.

With ``fraction-train`` below 1 a Flower strategy samples participants at random every round,
so a small participant can go many rounds unpicked. :class:`FairSampling` wraps a strategy and
keeps its random pick unless a participant's deadline (``max_rounds_unsampled`` rounds after it
last trained) is close enough that the pick could make it miss; then the round takes the
participants due first (:func:`fair_sample`). Everything else (the sample's size, aggregation,
evaluation) stays the wrapped strategy's.

Run config key: ``min-participation-every`` = k: every participant trains at least once in any k
consecutive rounds, as long as the sample holds enough places (a sample of s among n participants
can only promise it for k >= ceil(n / s)). Absent or 0: Flower's sampling alone.

>>> fair_sample({1: 3, 2: 3, 3: 0}, sampled=[1, 2], server_round=4, max_rounds_unsampled=3)
[3, 1]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from .errors import ConsortiumError

__all__ = ["MIN_PARTICIPATION_KEY", "FairSampling", "FairSamplingError", "fair_sample"]

MIN_PARTICIPATION_KEY = "min-participation-every"


class FairSamplingError(ConsortiumError):
    """``min-participation-every`` is not a non-negative integer."""


def fair_sample(
    last_sampled: Mapping[int, int],
    *,
    sampled: list[int],
    server_round: int,
    max_rounds_unsampled: int,
) -> list[int]:
    """The nodes to train this round, as many as ``sampled`` (the strategy's random pick).

    ``last_sampled`` maps every available node to the last round it trained. A node must train
    again within ``max_rounds_unsampled`` rounds of that. Taking nodes by earliest deadline
    first meets every deadline when any schedule can; so while some node has no slack left
    (the rounds before its deadline are just enough for it and the nodes due before it), this
    round takes the nodes due first; otherwise the random pick stands, which can use up slack
    but never more than a round's worth.
    """
    size = len(sampled)
    if size == 0:
        return sampled
    waited = {node: server_round - last for node, last in last_sampled.items()}
    due_first = sorted(waited, key=lambda node: (-waited[node], node))
    tight = any(
        math.ceil((index + 1) / size) >= max_rounds_unsampled - waited[node] + 1
        for index, node in enumerate(due_first)
    )
    return due_first[:size] if tight else sampled


def parse_min_participation(run_config: Mapping[str, Any]) -> int:
    """``min-participation-every`` from a run config (0 when absent).

    >>> parse_min_participation({"min-participation-every": "3"})
    3
    >>> parse_min_participation({"min-participation-every": -1})
    Traceback (most recent call last):
    ...
    consortium_core.fair_sampling.FairSamplingError: min-participation-every must be a \
non-negative integer (0: off), got -1
    """
    value = run_config.get(MIN_PARTICIPATION_KEY, 0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        raise FairSamplingError(
            f"{MIN_PARTICIPATION_KEY} must be a non-negative integer (0: off), got {value!r}"
        )
    return int(number)


class FairSampling(Strategy):
    """``strategy`` with every participant sampled at least once per ``max_rounds_unsampled``
    rounds (see the module's docstring)."""

    def __init__(self, strategy: Strategy, *, max_rounds_unsampled: int) -> None:
        if max_rounds_unsampled < 1:
            raise FairSamplingError(
                f"max_rounds_unsampled must be >= 1, got {max_rounds_unsampled}"
            )
        self.strategy = strategy
        self.max_rounds_unsampled = max_rounds_unsampled
        self.last_sampled: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"FairSampling({self.strategy!r}, every={self.max_rounds_unsampled})"

    def summary(self) -> None:
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        messages = list(self.strategy.configure_train(server_round, arrays, config, grid))
        for node in grid.get_node_ids():  # a newcomer waits from the round before it came
            self.last_sampled.setdefault(node, server_round - 1)
        sampled = [m.metadata.dst_node_id for m in messages]
        chosen = fair_sample(
            self.last_sampled,
            sampled=sampled,
            server_round=server_round,
            max_rounds_unsampled=self.max_rounds_unsampled,
        )
        by_node = {m.metadata.dst_node_id: m for m in messages}
        spare = [m for node, m in by_node.items() if node not in chosen]
        result = []
        for node in chosen:
            message = by_node.get(node) or _retarget(spare.pop(), node)
            result.append(message)
            self.last_sampled[node] = server_round
        return result

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.strategy.aggregate_train(server_round, replies)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)


def _retarget(message: Message, node: int) -> Message:
    """The same instruction (content, type, group) sent to ``node`` instead."""
    return Message(
        content=message.content,
        dst_node_id=node,
        message_type=message.metadata.message_type,
        group_id=message.metadata.group_id,
    )
