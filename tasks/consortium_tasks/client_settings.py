"""What a built-in ClientApp reads from its Context and messages: which data, which settings.

``context.node_config`` chooses the data, read once per process and cached (the client runtime
is long-lived and calls the ClientApp many times):

- simulated participants: ``partition-id`` (int), ``num-partitions`` (int), ``partition``
  (str, default ``"dirichlet(0.5)"``), ``seed`` (int, default 42), ``public-fraction`` (float,
  default 0: the share of the train pool declared public, which no participant holds);
- a participant's own data: ``data-path`` (an image folder or a CSV file) and, for CSV,
  ``label-column``;
- ``dp-seeded-noise`` (bool, default false): DP-SGD's Poisson samples and noise drawn from the
  training seed, reproducible, for simulations only (whoever knows the seed can remove the
  noise). A node setting, not a job setting: the server must not be able to choose it.

Hyper-parameters come from the message's config, else ``context.run_config``, else the task's
defaults: ``local-epochs``, ``learning-rate``, ``batch-size`` (a positive integer, or 0 or
``"full"`` for every example at every step) and ``proximal-mu`` from FedProx. The job's length,
``num-server-rounds``, comes the same way (the built-in ServerApps send it): DP-SGD with a
target epsilon spreads that target over all of the job's rounds.

>>> from consortium_tasks.registry import HyperParams
>>> hyperparams(HyperParams(2, 0.05, 32), {"learning-rate": 0.1}, {"batch-size": 8})
HyperParams(local_epochs=2, learning_rate=0.1, batch_size=8)
>>> hyperparams(HyperParams(2, 0.05, 32), {"batch-size": "full"}, {}).batch_size
0
>>> num_server_rounds({"num-server-rounds": 10}, {"num-server-rounds": 30})
30
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from consortium_core.privacy.errors import PrivacyParameterError

from .data import load_partition
from .errors import DatasetError, TaskError
from .registry import DEFAULT_NUM_SERVER_ROUNDS, HyperParams, parse_batch_size

__all__ = [
    "DEFAULT_PARTITION",
    "DEFAULT_SEED",
    "DPSettings",
    "dp_settings",
    "hyperparams",
    "load_node_data",
    "num_server_rounds",
    "proximal_mu",
    "read_int",
    "seeded_noise",
    "training_seed",
]

DEFAULT_PARTITION = "dirichlet(0.5)"
DEFAULT_SEED = 42
Tensors = tuple[torch.Tensor, torch.Tensor]
UserDataLoader = Callable[[Mapping[str, Any]], Tensors]


def read_int(config: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """``config[key]`` as an int (ints written as text or float accepted), with a clear error."""
    value = config.get(key, default)
    if value is None:
        raise DatasetError(f"node config has no {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DatasetError(f"{key!r} must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise DatasetError(f"{key!r} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise DatasetError(f"{key!r} must be an integer, got {value!r}")
    return int(number)


def hyperparams(
    defaults: HyperParams, run_config: Mapping[str, Any], config: Mapping[str, Any]
) -> HyperParams:
    """Local training settings: message config, else run config, else the task's defaults."""

    def pick(key: str, default: float) -> Any:
        return config.get(key, run_config.get(key, default))

    try:
        batch_size = parse_batch_size(pick("batch-size", defaults.batch_size))
    except ValueError as error:
        raise TaskError(str(error)) from None
    return HyperParams(
        local_epochs=int(pick("local-epochs", defaults.local_epochs)),
        learning_rate=float(pick("learning-rate", defaults.learning_rate)),
        batch_size=batch_size,
    )


def num_server_rounds(run_config: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """The job's number of rounds: message config, else run config, else the default (3)."""
    return int(
        config.get(
            "num-server-rounds", run_config.get("num-server-rounds", DEFAULT_NUM_SERVER_ROUNDS)
        )
    )


def proximal_mu(config: Mapping[str, Any]) -> float:
    """FedProx's proximal weight if the strategy sent one, else 0."""
    return float(config.get("proximal-mu", 0.0))


def training_seed(node_config: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """A seed for local shuffling that differs per participant and per round."""
    base = read_int(node_config, "seed", DEFAULT_SEED)
    partition = read_int(node_config, "partition-id", 0)
    server_round = read_int(config, "server-round", 0)
    return base * 1_000_003 + partition * 1_009 + server_round


def seeded_noise(node_config: Mapping[str, Any]) -> bool:
    """Whether this participant draws DP-SGD's samples and noise from its training seed.

    >>> seeded_noise({}), seeded_noise({"dp-seeded-noise": True})
    (False, True)
    >>> seeded_noise({"dp-seeded-noise": "no"})
    False
    """
    value = node_config.get("dp-seeded-noise", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def load_node_data(
    task: str, node_config: Mapping[str, Any], load_user_data: UserDataLoader
) -> Tensors:
    """This participant's training data, chosen by ``node_config`` and cached per process."""
    frozen = tuple(sorted((str(k), v) for k, v in node_config.items()))
    return _cached_node_data(task, frozen, load_user_data)


@lru_cache(maxsize=16)
def _cached_node_data(
    task: str, frozen_config: tuple[tuple[str, Any], ...], load_user_data: UserDataLoader
) -> Tensors:
    node_config = dict(frozen_config)
    if node_config.get("data-path"):
        return load_user_data(node_config)
    if "partition-id" not in node_config or "num-partitions" not in node_config:
        raise DatasetError(
            "node config must give 'partition-id' and 'num-partitions' (simulated data) "
            "or 'data-path' (your own data)"
        )
    return load_partition(
        task,
        partition_id=read_int(node_config, "partition-id"),
        num_partitions=read_int(node_config, "num-partitions"),
        partitioner_spec=str(node_config.get("partition", DEFAULT_PARTITION)),
        seed=read_int(node_config, "seed", DEFAULT_SEED),
        public_fraction=float(node_config.get("public-fraction", 0.0)),
    )


@dataclass(frozen=True)
class DPSettings:
    """Client-side DP-SGD settings of a job; DP is on when a noise level or target is given.

    ``target_epsilon`` is the participant's epsilon (by ``accountant``, at ``delta``) over all
    its steps in the job; ``grad_sample_mode`` None means DP-SGD's default.
    """

    noise_multiplier: float | None
    target_epsilon: float | None
    delta: float
    max_grad_norm: float
    accountant: str
    grad_sample_mode: str | None


def dp_settings(run_config: Mapping[str, Any], config: Mapping[str, Any]) -> DPSettings | None:
    """DP-SGD settings (message config, else run config), or None when DP is off.

    >>> dp_settings({}, {}) is None
    True
    >>> dp_settings({"dp-noise-multiplier": 1.1}, {}).delta
    1e-05
    >>> dp_settings({"dp-noise-multiplier": 1.1, "dp-target-epsilon": 3.0}, {})
    Traceback (most recent call last):
    ...
    consortium_core.privacy.errors.PrivacyParameterError: give one of dp-noise-multiplier and ...
    """

    def pick(key: str, default: Any = None) -> Any:
        return config.get(key, run_config.get(key, default))

    sigma, target = pick("dp-noise-multiplier"), pick("dp-target-epsilon")
    if sigma is None and target is None:
        return None
    if sigma is not None and target is not None:
        raise PrivacyParameterError(
            "give one of dp-noise-multiplier and dp-target-epsilon, not both"
        )
    mode = pick("dp-grad-sample-mode")
    return DPSettings(
        noise_multiplier=None if sigma is None else float(sigma),
        target_epsilon=None if target is None else float(target),
        delta=float(pick("dp-delta", 1e-5)),
        max_grad_norm=float(pick("dp-max-grad-norm", 1.0)),
        accountant=str(pick("dp-accountant", "rdp")),
        grad_sample_mode=None if mode is None else str(mode),
    )
