"""A job's SecAgg+ settings, from its run config, checked before the job starts.

Run config keys: ``secure-aggregation`` (bool, off by default; ``aggregation = "secagg+"``
turns it on too) and, all optional,
``secagg-num-shares`` (an odd integer >= 3, or a fraction of the sampled participants; default
1.0 = every participant holds a share of every other's secrets), ``secagg-reconstruction-threshold``
(an integer >= 2 below the number of shares, or a fraction of them; default 0.7),
``secagg-clipping-range`` (8.0: model values are clipped to +-range before quantization),
``secagg-quantization-range`` (2**22), ``secagg-max-weight`` (1000, Flower's default: the
largest example count that weighs an update exactly; a larger count weighs as this one, and a
much larger setting costs precision, because each update is scaled by ``count / max_weight``
before quantization) and ``secagg-timeout-s`` (none: wait for every reply or error).

The aggregate differs from the plaintext weighted average by the quantization error, about
``participants * 2 * clipping_range / quantization_range / sum(count / max_weight)`` per value.

An even integer ``num_shares`` is refused: flwr 1.42 rounds it up on the server but sends the
even number to participants, so the two sides disagree and the round ends without an aggregate.

>>> SecureAggregationSettings.from_run_config({}) is None
True
>>> s = SecureAggregationSettings.from_run_config(
...     {"secure-aggregation": True, "secagg-num-shares": 5, "secagg-reconstruction-threshold": 3})
>>> s.num_shares, s.reconstruction_threshold, s.clipping_range
(5, 3, 8.0)
>>> SecureAggregationSettings.from_run_config(
...     {"secure-aggregation": True, "secagg-num-shares": 4})
Traceback (most recent call last):
...
consortium_core.secure_aggregation.errors.SecureAggregationConfigError: secagg-num-shares ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..homomorphic.settings import SECAGG, aggregation_of
from .errors import SecureAggregationConfigError

__all__ = ["MODULUS_RANGE", "SECURE_AGGREGATION_KEY", "SecureAggregationSettings"]

SECURE_AGGREGATION_KEY = "secure-aggregation"
MODULUS_RANGE = 2**32
_PREFIX = "secagg-"


@dataclass(frozen=True)
class SecureAggregationSettings:
    """SecAgg+ parameters, as Flower's ``SecAggPlusWorkflow`` takes them."""

    num_shares: int | float = 1.0
    reconstruction_threshold: int | float = 0.7
    clipping_range: float = 8.0
    quantization_range: int = 2**22
    max_weight: float = 1000.0
    timeout_s: float | None = None

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> SecureAggregationSettings | None:
        """The settings when ``secure-aggregation`` is on, else None; bad values raise
        :class:`SecureAggregationConfigError` naming every problem."""
        chosen = aggregation_of(run_config) == SECAGG  # aggregation = "secagg+" says the same
        if not (_flag(run_config.get(SECURE_AGGREGATION_KEY, False)) or chosen):
            unused = sorted(k for k in run_config if k.startswith(_PREFIX))
            if unused:
                raise SecureAggregationConfigError(
                    f"{', '.join(unused)} given but {SECURE_AGGREGATION_KEY} is off; "
                    f"set {SECURE_AGGREGATION_KEY} = true or drop them"
                )
            return None
        defaults = cls()
        problems: list[str] = []
        values = {
            "num_shares": _share_count(run_config, "num-shares", defaults.num_shares, problems),
            "reconstruction_threshold": _share_count(
                run_config, "reconstruction-threshold", defaults.reconstruction_threshold, problems
            ),
            "clipping_range": _positive(
                run_config, "clipping-range", defaults.clipping_range, problems
            ),
            "quantization_range": int(
                _positive(run_config, "quantization-range", defaults.quantization_range, problems)
            ),
            "max_weight": _positive(run_config, "max-weight", defaults.max_weight, problems),
            "timeout_s": (
                None
                if run_config.get(_PREFIX + "timeout-s") is None
                else _positive(run_config, "timeout-s", 0.0, problems)
            ),
        }
        settings = cls(**values) if not problems else None
        if settings is not None:
            problems += settings._consistency_problems()
        if problems:
            raise SecureAggregationConfigError("; ".join(problems))
        assert settings is not None
        return settings

    def _consistency_problems(self) -> list[str]:
        problems = []
        shares, threshold = self.num_shares, self.reconstruction_threshold
        if isinstance(shares, int):
            if shares < 3 or shares % 2 == 0:
                problems.append(
                    f"{_PREFIX}num-shares must be an odd integer >= 3 (or a fraction of the "
                    f"participants, 1.0 for all), got {shares}: flwr 1.42 sends an even count "
                    "to participants unchanged while the server rounds it up"
                )
        elif not 0 < shares <= 1:
            problems.append(f"{_PREFIX}num-shares as a fraction must be in (0, 1], got {shares}")
        if isinstance(threshold, int):
            if threshold < 2:
                problems.append(f"{_PREFIX}reconstruction-threshold must be >= 2, got {threshold}")
            if isinstance(shares, int) and threshold >= shares:
                problems.append(
                    f"{_PREFIX}reconstruction-threshold ({threshold}) must be below "
                    f"{_PREFIX}num-shares ({shares})"
                )
        elif not 0 < threshold <= 1:
            problems.append(
                f"{_PREFIX}reconstruction-threshold as a fraction must be in (0, 1], "
                f"got {threshold}"
            )
        if self.quantization_range >= MODULUS_RANGE:
            problems.append(f"{_PREFIX}quantization-range must be below 2**32")
        return problems


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise SecureAggregationConfigError(
        f"{SECURE_AGGREGATION_KEY} must be true or false, got {value!r}"
    )


def _share_count(
    config: Mapping[str, Any], name: str, default: int | float, problems: list[str]
) -> int | float:
    value = config.get(_PREFIX + name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{_PREFIX}{name} must be an integer or a fraction, got {value!r}")
        return default
    return value


def _positive(config: Mapping[str, Any], name: str, default: float, problems: list[str]) -> float:
    value = config.get(_PREFIX + name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        problems.append(f"{_PREFIX}{name} must be a number > 0, got {value!r}")
        return default
    return float(value)
