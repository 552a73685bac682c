"""The utility of a coalition, remembered and counted.

Every estimator asks for ``v(S)`` for coalitions ``S`` of participant indices; evaluating one
means building a model and scoring it, so each distinct coalition is evaluated once and the
count of evaluations is what an estimator costs.

>>> v = CountingUtility(lambda s: float(len(s)), n=3)
>>> v(frozenset({0, 1})), v(frozenset({1, 0})), v.evaluations
(2.0, 2.0, 1)
>>> v.total, v.empty
(3.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConsortiumError

__all__ = ["CountingUtility", "Utility"]

Utility = Callable[[frozenset[int]], float]
"""How good the model of a coalition (participant indices) is; higher is better."""


class CountingUtility:
    """Memoizes a utility over the coalitions of ``n`` participants and counts evaluations."""

    def __init__(self, utility: Utility, n: int) -> None:
        if n < 1:
            raise ConsortiumError(f"contributions need at least one participant, got {n}")
        self._utility = utility
        self.n = n
        self.cache: dict[frozenset[int], float] = {}

    def __call__(self, coalition: frozenset[int]) -> float:
        value = self.cache.get(coalition)
        if value is None:
            value = float(self._utility(coalition))
            if value != value:  # NaN
                raise ConsortiumError(f"the utility of coalition {sorted(coalition)} is NaN")
            self.cache[coalition] = value
        return value

    @property
    def evaluations(self) -> int:
        """Distinct coalitions evaluated so far."""
        return len(self.cache)

    @property
    def total(self) -> float:
        """v(N): every participant's update."""
        return self(frozenset(range(self.n)))

    @property
    def empty(self) -> float:
        """v(empty): no update, i.e. the round's starting model."""
        return self(frozenset())
