"""Shapley-value estimators over a :class:`~.utility.CountingUtility`, registered by name.

* ``exact``: every coalition (``2**n`` utilities); the reference, for up to
  :data:`MAX_EXACT` participants.
* ``loo``: leave-one-out, ``v(N) - v(N minus i)``; ``n + 1`` utilities, not a Shapley value
  (two participants with the same data both look useless).
* ``tmc``: truncated Monte Carlo permutation sampling (Ghorbani and Zou, 2019): average
  marginal gains over random orders, a scan stopping once the prefix is within
  ``within_tolerance`` of ``v(N)``.
* ``gtg``: GTG-Shapley (Liu et al., 2022): between-round truncation (a round whose model
  gains less than ``between_tolerance`` over its start is worth nothing to anyone and costs two
  utilities), guided permutations (each participant leads in turn), within-round truncation as
  ``tmc``, and a stop once the estimates settle.

Each returns a :class:`ContributionResult` whose ``values`` follow participant indices.

>>> v = CountingUtility(lambda s: float(len(s & {0, 1})) + 0.5 * (2 in s), n=3)
>>> exact_shapley(v).values
(1.0, 1.0, 0.5)
>>> leave_one_out(CountingUtility(lambda s: float(bool(s)), n=2)).values  # both redundant
(0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConsortiumError, UnknownNameError
from .utility import CountingUtility

__all__ = [
    "ESTIMATORS",
    "EXACT_UP_TO",
    "MAX_EXACT",
    "SAMPLED",
    "ContributionResult",
    "estimate",
    "exact_shapley",
    "gtg_shapley",
    "leave_one_out",
    "tmc_shapley",
]

MAX_EXACT = 14
"""Above this many participants the exact estimator refuses (2**n models to build)."""

EXACT_UP_TO = 4
"""GTG and TMC compute exact values for this many participants or fewer: ``2**n`` models
(at most 16) cost no more than sampling, and sampling's truncation would favour whoever
happens to join first (with 2 participants, the first often takes the whole gain)."""


@dataclass(frozen=True)
class ContributionResult:
    """One round's contributions: ``values[i]`` is participant ``i``'s."""

    method: str
    values: tuple[float, ...]
    evaluations: int
    """distinct coalitions whose utility was computed"""
    utility_all: float
    utility_none: float
    permutations: int = 0
    truncated: bool = False
    """between-round truncation: the round gained too little to share out"""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def eval_fraction(self) -> float:
        """Utilities computed over the ``2**n`` the exact estimator needs."""
        return self.evaluations / 2**self.n


def _result(
    method: str, v: CountingUtility, values: np.ndarray, **extra: Any
) -> ContributionResult:
    return ContributionResult(
        method=method,
        values=tuple(float(x) for x in values),
        evaluations=v.evaluations,
        utility_all=v.total,
        utility_none=v.empty,
        **extra,
    )


def exact_shapley(v: CountingUtility) -> ContributionResult:
    """Every coalition, each marginal gain weighted by ``|S|! (n - |S| - 1)! / n!``."""
    n = v.n
    if n > MAX_EXACT:
        raise ConsortiumError(
            f"exact Shapley values over {n} participants need {2**n} models; "
            f"use gtg or tmc above {MAX_EXACT}"
        )
    weight = [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    values = np.zeros(n)
    for mask in range(2**n):
        members = frozenset(i for i in range(n) if mask >> i & 1)
        base = v(members)
        for i in range(n):
            if not mask >> i & 1:
                values[i] += weight[len(members)] * (v(members | {i}) - base)
    return _result("exact", v, values)


def leave_one_out(v: CountingUtility) -> ContributionResult:
    """``v(N) - v(N without i)`` for each participant."""
    everyone = frozenset(range(v.n))
    values = np.array([v.total - v(everyone - {i}) for i in range(v.n)])
    v.empty  # noqa: B018 - recorded for the result, as for every estimator
    return _result("loo", v, values)


def _scan(v: CountingUtility, order: list[int], within_tolerance: float) -> np.ndarray:
    """Marginal gains along one order, zero once the prefix is as good as everyone."""
    gains = np.zeros(v.n)
    prefix: frozenset[int] = frozenset()
    previous = v.empty
    target = v.total
    for i in order:
        if abs(target - previous) <= within_tolerance:
            break
        prefix = prefix | {i}
        current = v(prefix)
        gains[i] = current - previous
        previous = current
    return gains


def _settled(history: list[np.ndarray], window: int, convergence: float) -> bool:
    """The estimates moved less than ``convergence`` (relative, L1) over the last window."""
    if len(history) <= window:
        return False
    latest, earlier = history[-1], history[-1 - window]
    scale = max(float(np.abs(latest).sum()), 1e-12)
    return float(np.abs(latest - earlier).sum()) / scale < convergence


def _sample(
    method: str,
    v: CountingUtility,
    orders: Callable[[int], list[int]],
    *,
    within_tolerance: float,
    convergence: float,
    min_permutations: int,
    max_permutations: int,
) -> ContributionResult:
    totals = np.zeros(v.n)
    history: list[np.ndarray] = []
    k = 0
    while k < max_permutations:
        totals += _scan(v, orders(k), within_tolerance)
        k += 1
        history.append(totals / k)
        if k >= min_permutations and _settled(history, v.n, convergence):
            break
    return _result(method, v, totals / k, permutations=k)


def tmc_shapley(
    v: CountingUtility,
    *,
    seed: int = 0,
    within_tolerance: float = 0.0,
    convergence: float = 0.02,
    min_permutations: int | None = None,
    max_permutations: int | None = None,
) -> ContributionResult:
    """Truncated Monte Carlo: uniformly random orders until the estimates settle."""
    if v.n <= EXACT_UP_TO:
        return exact_shapley(v)
    rng = np.random.default_rng(seed)
    return _sample(
        "tmc",
        v,
        lambda _k: [int(i) for i in rng.permutation(v.n)],
        within_tolerance=within_tolerance,
        convergence=convergence,
        min_permutations=min_permutations or 2 * v.n,
        max_permutations=max_permutations or 50 * v.n,
    )


def gtg_shapley(
    v: CountingUtility,
    *,
    seed: int = 0,
    within_tolerance: float = 0.01,
    between_tolerance: float = 0.01,
    convergence: float = 0.1,
    min_permutations: int | None = None,
    max_permutations: int | None = None,
) -> ContributionResult:
    """GTG-Shapley for one round (see the module's text). Tolerances are in utility units
    (0.01 is one point of accuracy); the defaults come from ``make bench BENCH=shapley``."""
    if abs(v.total - v.empty) <= between_tolerance:
        return _result("gtg", v, np.zeros(v.n), truncated=True)
    if v.n <= EXACT_UP_TO:
        return exact_shapley(v)
    rng = np.random.default_rng(seed)

    def guided(k: int) -> list[int]:
        lead = k % v.n
        rest = [i for i in range(v.n) if i != lead]
        return [lead, *(int(i) for i in rng.permutation(rest))]

    return _sample(
        "gtg",
        v,
        guided,
        within_tolerance=within_tolerance,
        convergence=convergence,
        min_permutations=min_permutations or v.n,
        max_permutations=max_permutations or 10 * v.n,
    )


ESTIMATORS: Mapping[str, Callable[..., ContributionResult]] = {
    "exact": exact_shapley,
    "gtg": gtg_shapley,
    "tmc": tmc_shapley,
    "loo": leave_one_out,
}


SAMPLED = frozenset({"gtg", "tmc"})
"""The estimators that sample permutations (and so take a ``seed``)."""


def estimate(
    method: str, v: CountingUtility, *, seed: int = 0, **options: Any
) -> ContributionResult:
    """Run the estimator registered as ``method`` (``seed`` for the sampling ones, other
    options as its keyword arguments)."""
    try:
        estimator = ESTIMATORS[method]
    except KeyError:
        raise UnknownNameError("contribution method", method, ESTIMATORS) from None
    if method in SAMPLED:
        options["seed"] = seed
    return estimator(v, **options)
