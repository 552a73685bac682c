"""Registry of Flower's message-API strategies, by the names a job uses.

Consortium does not re-implement aggregation: each name maps to a strategy class from
``flwr.serverapp.strategy``. Unknown names raise :class:`UnknownNameError` listing the known ones.

>>> sorted(STRATEGIES)[:3]
['Bulyan', 'FedAdagrad', 'FedAdam']
>>> type(build_strategy("FedAvg", min_participants=2)).__name__
'FedAvg'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flwr.serverapp import strategy as flwr_strategy
from flwr.serverapp.strategy import Strategy

from .errors import UnknownNameError

__all__ = ["STRATEGIES", "build_strategy", "check_strategy_name"]

STRATEGIES: Mapping[str, type[Strategy]] = {
    "FedAvg": flwr_strategy.FedAvg,
    "FedProx": flwr_strategy.FedProx,
    "FedAvgM": flwr_strategy.FedAvgM,
    "FedAdam": flwr_strategy.FedAdam,
    "FedAdagrad": flwr_strategy.FedAdagrad,
    "FedYogi": flwr_strategy.FedYogi,
    "FedMedian": flwr_strategy.FedMedian,
    "FedTrimmedAvg": flwr_strategy.FedTrimmedAvg,
    "Krum": flwr_strategy.Krum,
    "MultiKrum": flwr_strategy.MultiKrum,
    "Bulyan": flwr_strategy.Bulyan,
    "QFedAvg": flwr_strategy.QFedAvg,
}


def check_strategy_name(name: str) -> str:
    """Return ``name`` if it is a known strategy, else raise :class:`UnknownNameError`."""
    if name not in STRATEGIES:
        raise UnknownNameError("strategy", name, STRATEGIES)
    return name


def build_strategy(
    name: str,
    *,
    min_participants: int,
    fraction_train: float = 1.0,
    fraction_evaluate: float = 1.0,
    options: Mapping[str, Any] | None = None,
) -> Strategy:
    """Instantiate strategy ``name`` with Consortium's sampling settings plus ``options``.

    ``options`` are passed as keyword arguments (for example ``proximal_mu`` for FedProx).
    """
    cls = STRATEGIES[check_strategy_name(name)]
    return cls(
        fraction_train=fraction_train,
        fraction_evaluate=fraction_evaluate,
        min_train_nodes=min_participants,
        min_evaluate_nodes=min_participants if fraction_evaluate > 0 else 0,
        min_available_nodes=min_participants,
        **dict(options or {}),
    )
