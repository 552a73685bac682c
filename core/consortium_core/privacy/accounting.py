"""Epsilon of DP-SGD (the subsampled Gaussian mechanism) from its inputs, by a named accountant.

Every function is pure and keyword-only: the same ``(noise_multiplier, sample_rate, steps,
delta)`` always give the same epsilon, so anyone holding a :class:`PrivacySpend` can recompute
its epsilon with Opacus. The accountants are Opacus's, registered here by name:

- ``"rdp"``: Rényi DP (Mironov 2017; Mironov, Talwar, Zhang 2019), an upper bound;
- ``"prv"``: privacy random variables (Gopi, Lee, Wutschitz 2021), a tighter numerical bound
  (Opacus's default error tolerance: ``eps_error=0.01``, ``delta_error=delta/1000``; the upper
  end of its interval is reported).

>>> round(epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=0.01, steps=1000,
...               delta=1e-5), 2)
2.1
>>> epsilon(accountant="prv", noise_multiplier=1.0, sample_rate=0.01, steps=1000,
...         delta=1e-5) < 2.1
True
>>> epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=0.01, steps=0, delta=1e-5)
0.0
>>> epsilon(accountant="gdp", noise_multiplier=1.0, sample_rate=0.01, steps=1, delta=1e-5)
Traceback (most recent call last):
...
consortium_core.errors.UnknownNameError: unknown accountant 'gdp'; known: prv, rdp
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal, Self

import numpy as np
from opacus.accountants import IAccountant, PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from pydantic import BaseModel, ConfigDict, Field

from consortium_core.errors import UnknownNameError

from .errors import PrivacyParameterError

__all__ = [
    "ACCOUNTANTS",
    "ROUND_TRIP_TOLERANCE",
    "PrivacySpend",
    "composed_epsilon",
    "epsilon",
    "known_accountants",
    "noise_multiplier_for",
]

ACCOUNTANTS: Mapping[str, Callable[[], IAccountant]] = MappingProxyType(
    {"rdp": RDPAccountant, "prv": PRVAccountant}
)
ROUND_TRIP_TOLERANCE = 0.005
"""Relative gap below the target epsilon that :func:`noise_multiplier_for` stops at."""


def known_accountants() -> list[str]:
    """Names of the registered accountants.

    >>> known_accountants()
    ['prv', 'rdp']
    """
    return sorted(ACCOUNTANTS)


def _check_accountant(accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise UnknownNameError("accountant", accountant, ACCOUNTANTS)


def _check_common(*, sample_rate: float, steps: int, delta: float) -> None:
    problems = []
    if not (isinstance(delta, int | float) and 0.0 < delta < 1.0):
        problems.append(f"delta must be in (0, 1), got {delta!r}")
    if not (isinstance(sample_rate, int | float) and 0.0 < sample_rate <= 1.0):
        problems.append(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        problems.append(f"steps must be an integer >= 0, got {steps!r}")
    if problems:
        raise PrivacyParameterError("; ".join(problems))


def _check_noise(noise_multiplier: float) -> None:
    if not (
        isinstance(noise_multiplier, int | float)
        and math.isfinite(noise_multiplier)
        and noise_multiplier > 0
    ):
        raise PrivacyParameterError(
            f"noise_multiplier must be a finite number > 0, got {noise_multiplier!r}"
        )


def epsilon(
    *, accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """Epsilon after ``steps`` steps of DP-SGD with Poisson sampling at ``sample_rate``.

    ``noise_multiplier`` is the ratio of the Gaussian noise's standard deviation to the clipping
    norm. Zero steps spend nothing.

    >>> epsilon(accountant="rdp", noise_multiplier=0.0, sample_rate=0.1, steps=1, delta=1e-5)
    Traceback (most recent call last):
    ...
    consortium_core.privacy.errors.PrivacyParameterError: noise_multiplier must be ...
    >>> epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=0.0, steps=-1, delta=1.0)
    Traceback (most recent call last):
    ...
    consortium_core.privacy.errors.PrivacyParameterError: delta must be in (0, 1), got 1.0; ...
    """
    return composed_epsilon(
        accountant=accountant, history=[(noise_multiplier, sample_rate, steps)], delta=delta
    )


def composed_epsilon(
    *, accountant: str, history: Sequence[tuple[float, float, int]], delta: float
) -> float:
    """Epsilon of several DP-SGD runs composed: ``history`` holds one
    ``(noise_multiplier, sample_rate, steps)`` per run (rounds of a job, jobs of a participant).

    Runs with the same noise and rate compose exactly as one run of all their steps.

    >>> one = epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=0.01, steps=1000,
    ...               delta=1e-5)
    >>> composed_epsilon(accountant="rdp", history=[(1.0, 0.01, 400), (1.0, 0.01, 600)],
    ...                  delta=1e-5) == one
    True
    >>> composed_epsilon(accountant="prv", history=[], delta=1e-5)
    0.0
    """
    _check_accountant(accountant)
    runs: dict[tuple[float, float], int] = {}
    for noise_multiplier, sample_rate, steps in history:
        _check_common(sample_rate=sample_rate, steps=steps, delta=delta)
        _check_noise(noise_multiplier)
        key = (float(noise_multiplier), float(sample_rate))
        runs[key] = runs.get(key, 0) + int(steps)
    if not (isinstance(delta, int | float) and 0.0 < delta < 1.0):
        raise PrivacyParameterError(f"delta must be in (0, 1), got {delta!r}")
    merged = [(sigma, rate, steps) for (sigma, rate), steps in runs.items() if steps > 0]
    if not merged:
        return 0.0
    engine = ACCOUNTANTS[accountant]()
    engine.history = merged
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        # PRV takes log(1 - q), -inf at q = 1, and handles it; it bounds its domain with RDP,
        # whose warning about the orders tried says nothing about PRV's own epsilon.
        if accountant == "prv":
            warnings.filterwarnings("ignore", message="Optimal order is the")
        return float(engine.get_epsilon(delta=delta))


def noise_multiplier_for(
    *, target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float:
    """The smallest noise multiplier (up to a bisection) whose epsilon is at most the target.

    The epsilon at the returned value lies in ``[(1 - 0.005) * target, target]``
    (:data:`ROUND_TRIP_TOLERANCE`).

    >>> sigma = noise_multiplier_for(target_epsilon=2.0, delta=1e-5, sample_rate=0.01,
    ...                              steps=1000, accountant="rdp")
    >>> round(sigma, 2)
    1.02
    >>> 0.995 * 2.0 <= epsilon(accountant="rdp", noise_multiplier=sigma, sample_rate=0.01,
    ...                        steps=1000, delta=1e-5) <= 2.0
    True
    """
    _check_accountant(accountant)
    _check_common(sample_rate=sample_rate, steps=steps, delta=delta)
    if not (isinstance(target_epsilon, int | float) and 0 < target_epsilon < math.inf):
        raise PrivacyParameterError(
            f"target_epsilon must be a finite number > 0, got {target_epsilon!r}"
        )
    if steps == 0:
        raise PrivacyParameterError("steps must be >= 1 to derive a noise multiplier")
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore"):
            # The bisection visits noise multipliers far from the answer, where RDP's optimal
            # order is at an end of the orders tried; Opacus warns then, about a point not kept.
            warnings.filterwarnings("ignore", message="Optimal order is the")
            sigma = get_noise_multiplier(
                target_epsilon=float(target_epsilon),
                target_delta=float(delta),
                sample_rate=float(sample_rate),
                steps=int(steps),
                accountant=accountant,
                epsilon_tolerance=ROUND_TRIP_TOLERANCE * float(target_epsilon),
            )
    except ValueError as error:  # Opacus: "The privacy budget is too low."
        raise PrivacyParameterError(
            f"no noise multiplier reaches epsilon {target_epsilon} at delta {delta} "
            f"in {steps} steps at sample rate {sample_rate}: {error}"
        ) from None
    return float(sigma)


class PrivacySpend(BaseModel):
    """What one DP-SGD training spent, with every input needed to recompute its epsilon.

    >>> spend = PrivacySpend.compute(accountant="rdp", noise_multiplier=1.0, sample_rate=0.01,
    ...                              steps=1000, delta=1e-5)
    >>> round(spend.epsilon, 2), spend.v
    (2.1, 1)
    >>> spend.recompute_epsilon() == spend.epsilon
    True
    >>> PrivacySpend.model_validate_json(spend.model_dump_json()) == spend
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    accountant: str = Field(description="name of the accountant that gave epsilon: rdp or prv")
    noise_multiplier: float = Field(gt=0, description="noise std divided by the clipping norm")
    sample_rate: float = Field(gt=0, le=1, description="Poisson sampling probability per step")
    steps: int = Field(ge=0, description="number of noisy gradient steps taken")
    delta: float = Field(gt=0, lt=1)
    epsilon: float = Field(ge=0)

    @classmethod
    def compute(
        cls,
        *,
        accountant: str,
        noise_multiplier: float,
        sample_rate: float,
        steps: int,
        delta: float,
    ) -> Self:
        """The spend of these inputs, its epsilon computed by ``accountant``."""
        value = epsilon(
            accountant=accountant,
            noise_multiplier=noise_multiplier,
            sample_rate=sample_rate,
            steps=steps,
            delta=delta,
        )
        return cls(
            accountant=accountant,
            noise_multiplier=noise_multiplier,
            sample_rate=sample_rate,
            steps=steps,
            delta=delta,
            epsilon=value,
        )

    def recompute_epsilon(self) -> float:
        """Epsilon recomputed from this spend's inputs (to check a reported value)."""
        return epsilon(
            accountant=self.accountant,
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=self.steps,
            delta=self.delta,
        )
