"""What a built-in ServerApp reads from ``context.run_config``, and its held-out evaluation.

Run config keys (all optional): ``num-server-rounds`` (3), ``strategy`` ("FedAvg"),
``min-participants`` (2), ``fraction-train`` (1.0), ``fraction-evaluate`` (1.0), ``seed`` (42,
the initial model's), strategy options as ``strategy.<option>`` (``strategy.proximal_mu``), and
the hyper-parameters sent to participants: ``local-epochs``, ``learning-rate``, ``batch-size``
(sent with ``num-server-rounds``).

>>> settings = ServerSettings.from_run_config({"strategy": "FedProx", "strategy.proximal_mu": 0.1})
>>> settings.strategy, settings.num_rounds, settings.strategy_options
('FedProx', 3, {'proximal_mu': 0.1})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from consortium_core.rounds import notify_round_end
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord
from torch import nn

from .registry import DEFAULT_NUM_SERVER_ROUNDS, HyperParams, parse_batch_size
from .training import evaluate_model

__all__ = [
    "STRATEGY_OPTION_PREFIX",
    "ServerSettings",
    "held_out_evaluate_fn",
    "participant_config",
]

STRATEGY_OPTION_PREFIX = "strategy."


@dataclass(frozen=True)
class ServerSettings:
    """The job settings a ServerApp needs, with the defaults that work on one machine."""

    num_rounds: int = DEFAULT_NUM_SERVER_ROUNDS
    strategy: str = "FedAvg"
    min_participants: int = 2
    fraction_train: float = 1.0
    fraction_evaluate: float = 1.0
    seed: int = 42
    strategy_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> ServerSettings:
        """Read the settings from a Flower run config (missing keys take the defaults)."""
        defaults = cls()
        return cls(
            num_rounds=int(run_config.get("num-server-rounds", defaults.num_rounds)),
            strategy=str(run_config.get("strategy", defaults.strategy)),
            min_participants=int(run_config.get("min-participants", defaults.min_participants)),
            fraction_train=float(run_config.get("fraction-train", defaults.fraction_train)),
            fraction_evaluate=float(
                run_config.get("fraction-evaluate", defaults.fraction_evaluate)
            ),
            seed=int(run_config.get("seed", defaults.seed)),
            strategy_options={
                key.removeprefix(STRATEGY_OPTION_PREFIX): value
                for key, value in run_config.items()
                if key.startswith(STRATEGY_OPTION_PREFIX)
            },
        )


def participant_config(defaults: HyperParams, run_config: Mapping[str, Any]) -> ConfigRecord:
    """The hyper-parameters sent to participants with every train and evaluate message, and
    the job's ``num-server-rounds`` (DP-SGD spreads a target epsilon over all of them).

    >>> config = participant_config(HyperParams(2, 0.7, 0), {"num-server-rounds": 30})
    >>> config["num-server-rounds"], config["batch-size"]
    (30, 0)
    """
    return ConfigRecord(
        {
            "local-epochs": int(run_config.get("local-epochs", defaults.local_epochs)),
            "learning-rate": float(run_config.get("learning-rate", defaults.learning_rate)),
            "batch-size": parse_batch_size(run_config.get("batch-size", defaults.batch_size)),
            "num-server-rounds": int(
                run_config.get("num-server-rounds", DEFAULT_NUM_SERVER_ROUNDS)
            ),
        }
    )


def held_out_evaluate_fn(
    *,
    grid: object,
    build_model: Callable[[], nn.Module],
    test_set: tuple[torch.Tensor, torch.Tensor],
) -> Callable[[int, ArrayRecord], MetricRecord]:
    """An ``evaluate_fn`` for ``Strategy.start``: score the global model on the held-out test
    set, then tell the runtime that the round ended (:func:`notify_round_end`)."""
    test_x, test_y = test_set

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = build_model()
        model.load_state_dict(arrays.to_torch_state_dict())
        result = evaluate_model(model, test_x, test_y)
        metrics = {"accuracy": result.accuracy, "loss": result.loss}
        notify_round_end(grid, server_round, arrays, metrics)
        return MetricRecord({**metrics})

    return evaluate_fn
