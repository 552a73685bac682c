"""A vertical job's settings, read from its run config, and the horizontal ones it refuses.

Run config keys (all optional): ``batch-size`` (256), ``learning-rate`` (0.03, Adam),
``embedding-noise`` and ``gradient-noise`` (noise multipliers, 0.3 each; 0 turns the noise off
and with it any formal guarantee), ``embedding-clip`` and ``gradient-clip`` (L2 norms, 1.0
each), ``test-fraction`` (0.2, the share of aligned customers held out for the AUC), ``delta``
(1e-5, for the epsilons reported), ``seed`` (42). The job's rounds are epochs.

>>> VerticalSettings.from_run_config({"num-server-rounds": 5, "embedding-noise": 0}).epochs
5
>>> VerticalSettings.from_run_config({"secure-aggregation": True})
Traceback (most recent call last):
...
consortium_core.vertical.settings.VerticalSettingsError: secure-aggregation does not apply to \
a vertical job (it takes batch-size, delta, embedding-clip, embedding-noise, gradient-clip, \
gradient-noise, learning-rate, seed, test-fraction)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConsortiumError
from .protection import Protection

__all__ = ["VERTICAL_KEYS", "VerticalSettings", "VerticalSettingsError"]

VERTICAL_KEYS = frozenset(
    {
        "batch-size",
        "learning-rate",
        "embedding-noise",
        "gradient-noise",
        "embedding-clip",
        "gradient-clip",
        "test-fraction",
        "delta",
        "seed",
    }
)
_JOB_KEYS = frozenset({"num-server-rounds", "strategy", "min-participants"})
_DEFAULT_PROTECTION = Protection(clip_norm=1.0, noise_multiplier=0.3)
_ACCEPTED_STRATEGIES = frozenset({"FedAvg", "Vertical"})  # FedAvg: the API's default


class VerticalSettingsError(ConsortiumError, ValueError):
    """A vertical job's setting that cannot work; the text says which and why."""


def _number(run_config: Mapping[str, Any], key: str, default: float) -> float:
    value = run_config.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise VerticalSettingsError(f"{key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or number != number:
        raise VerticalSettingsError(f"{key} must be a number, got {value!r}")
    return number


@dataclass(frozen=True)
class VerticalSettings:
    """What the ServerApp and every party of a vertical job read from its run config."""

    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 0.03
    embedding: Protection = _DEFAULT_PROTECTION
    gradient: Protection = _DEFAULT_PROTECTION
    test_fraction: float = 0.2
    delta: float = 1e-5
    seed: int = 42

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> VerticalSettings:
        """Read and check the settings; refuse keys of horizontal jobs (DP-SGD, SecAgg+, ...)."""
        foreign = sorted(set(run_config) - VERTICAL_KEYS - _JOB_KEYS)
        if foreign:
            raise VerticalSettingsError(
                f"{', '.join(foreign)} {'does' if len(foreign) == 1 else 'do'} not apply to a "
                f"vertical job (it takes {', '.join(sorted(VERTICAL_KEYS))})"
            )
        strategy = str(run_config.get("strategy", "FedAvg"))
        if strategy not in _ACCEPTED_STRATEGIES:
            raise VerticalSettingsError(
                f"a vertical job has no aggregation strategy (got {strategy}); leave it unset"
            )
        d = cls()
        settings = cls(
            epochs=int(_number(run_config, "num-server-rounds", d.epochs)),
            batch_size=int(_number(run_config, "batch-size", d.batch_size)),
            learning_rate=_number(run_config, "learning-rate", d.learning_rate),
            embedding=Protection(
                clip_norm=_number(run_config, "embedding-clip", d.embedding.clip_norm),
                noise_multiplier=_number(
                    run_config, "embedding-noise", d.embedding.noise_multiplier
                ),
            ),
            gradient=Protection(
                clip_norm=_number(run_config, "gradient-clip", d.gradient.clip_norm),
                noise_multiplier=_number(run_config, "gradient-noise", d.gradient.noise_multiplier),
            ),
            test_fraction=_number(run_config, "test-fraction", d.test_fraction),
            delta=_number(run_config, "delta", d.delta),
            seed=int(_number(run_config, "seed", d.seed)),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"the job needs at least 1 epoch (rounds), got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch-size must be at least 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            problems.append(f"learning-rate must be > 0, got {self.learning_rate}")
        for name, protection in (("embedding", self.embedding), ("gradient", self.gradient)):
            if not protection.clip_norm > 0:
                problems.append(f"{name}-clip must be > 0, got {protection.clip_norm}")
            if not protection.noise_multiplier >= 0:
                problems.append(f"{name}-noise must be >= 0, got {protection.noise_multiplier}")
        if not 0.0 < self.test_fraction < 1.0:
            problems.append(f"test-fraction must be in (0, 1), got {self.test_fraction}")
        if not 0.0 < self.delta < 1.0:
            problems.append(f"delta must be in (0, 1), got {self.delta}")
        if problems:
            raise VerticalSettingsError("; ".join(problems))
