"""Registry of Flower's message-API strategies, by the names a job uses.

Each name maps to a subclass of the ``flwr.serverapp.strategy`` class of that name whose array
aggregation runs the kernels of :mod:`consortium_core.aggregation` (sampling, configuration and
metric aggregation stay Flower's); QFedAvg is Flower's own. Unknown names raise
:class:`UnknownNameError` listing the known ones.

>>> sorted(STRATEGIES)[:3]
['Bulyan', 'FedAdagrad', 'FedAdam']
>>> from flwr.serverapp.strategy import FedAvg
>>> isinstance(build_strategy("FedAvg", min_participants=2), FedAvg)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flwr.serverapp import strategy as flwr_strategy
from flwr.serverapp.strategy import Strategy

from .aggregation import strategies as fast
from .errors import ConsortiumError, UnknownNameError

__all__ = [
    "ROBUST_MINIMUM",
    "STRATEGIES",
    "StrategyOptionsError",
    "build_strategy",
    "check_strategy_name",
]

STRATEGIES: Mapping[str, type[Strategy]] = {
    "FedAvg": fast.FastFedAvg,
    "FedProx": fast.FastFedProx,
    "FedAvgM": fast.FastFedAvgM,
    "FedAdam": fast.FastFedAdam,
    "FedAdagrad": fast.FastFedAdagrad,
    "FedYogi": fast.FastFedYogi,
    "FedMedian": fast.FastFedMedian,
    "FedTrimmedAvg": fast.FastFedTrimmedAvg,
    "Krum": fast.FastKrum,
    "MultiKrum": fast.FastMultiKrum,
    "Bulyan": fast.FastBulyan,
    "QFedAvg": flwr_strategy.QFedAvg,
}


ROBUST_MINIMUM = {"Krum": (2, 3), "MultiKrum": (2, 3), "Bulyan": (4, 3)}
"""Strategy -> (a, b): it needs at least ``a * f + b`` updates a round to tolerate ``f``
attackers (``num_malicious_nodes``), else its guarantee fails (Krum) or it cannot aggregate at
all (Bulyan)."""


class StrategyOptionsError(ConsortiumError, ValueError):
    """A strategy's options that it does not take, or that cannot work with the job's minimum
    number of participants."""


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
    options = dict(options or {})
    if name in ROBUST_MINIMUM:
        per_attacker, base = ROBUST_MINIMUM[name]
        attackers = int(options.get("num_malicious_nodes", 0))
        needed = per_attacker * attackers + base
        # Krum expecting no attacker just picks the most central update, from any number
        if min_participants < needed and (attackers > 0 or name == "Bulyan"):
            raise StrategyOptionsError(
                f"{name} with num_malicious_nodes={attackers} needs at least "
                f"{per_attacker}f+{base} = {needed} updates a round, but min-participants is "
                f"{min_participants}: raise min-participants or lower strategy.num_malicious_nodes"
            )
    try:
        return cls(
            fraction_train=fraction_train,
            fraction_evaluate=fraction_evaluate,
            min_train_nodes=min_participants,
            min_evaluate_nodes=min_participants if fraction_evaluate > 0 else 0,
            min_available_nodes=min_participants,
            **options,
        )
    except TypeError as exc:  # an option the strategy does not take
        known = ", ".join(sorted(_options_of(cls)))
        raise StrategyOptionsError(
            f"{name} does not take the options {sorted(options)} as given ({exc}); "
            f"its options: {known}"
        ) from None


def _options_of(cls: type[Strategy]) -> list[str]:
    import inspect

    sampling = {"fraction_train", "fraction_evaluate", "min_train_nodes"}
    sampling |= {"min_evaluate_nodes", "min_available_nodes"}
    return [p for p in inspect.signature(cls.__init__).parameters if p not in {"self", *sampling}]
