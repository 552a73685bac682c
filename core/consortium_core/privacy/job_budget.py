"""A job's privacy budget: stop before the round that would take any participant past it.

Run config keys: ``privacy-budget-epsilon`` (the job's target epsilon per participant over all
its rounds) and ``privacy-budget-delta`` (default: the job's ``dp-delta``, else 1e-5). The
accountant is the job's ``dp-accountant`` (default ``rdp``). A budget needs DP-SGD on
(``dp-noise-multiplier`` or ``dp-target-epsilon``): without noise no epsilon is finite.

:class:`BudgetTracker` keeps, per participant, the ``(noise_multiplier, sample_rate, steps)``
of every round it reported (the ``dp_*`` metrics of its update) and predicts the next round as a
repeat of its last. RDP is checked first: it is an upper bound, so when it stays within the
budget the tighter PRV does too, and the slower PRV runs only near the edge.

>>> budget = JobBudget.from_run_config({"privacy-budget-epsilon": 5.0, "dp-noise-multiplier": 1.0})
>>> budget.epsilon, budget.delta, budget.accountant
(5.0, 1e-05, 'rdp')
>>> tracker = BudgetTracker(budget)
>>> spend = {"dp_noise_multiplier": 1.0, "dp_sample_rate": 0.05, "dp_steps": 10}
>>> while tracker.exceeded_by_next_round() is None:
...     tracker.record_round({"hospital-1": spend})
>>> tracker.rounds, round(tracker.spent("hospital-1"), 2)
(16, 4.88)
>>> print(tracker.exceeded_by_next_round())  # doctest: +NORMALIZE_WHITESPACE
privacy budget reached after round 16: one more round would take hospital-1 to epsilon
5.002 > 5 (delta 1e-05, rdp); spent so far 4.876
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .accounting import ACCOUNTANTS, composed_epsilon
from .errors import PrivacyParameterError

__all__ = ["BudgetTracker", "JobBudget", "missing_spend"]

_HISTORY_KEYS = ("dp_noise_multiplier", "dp_sample_rate", "dp_steps")
Run = tuple[float, float, int]


@dataclass(frozen=True)
class JobBudget:
    """The job's target (epsilon, delta) per participant, and the accountant that measures it."""

    epsilon: float
    delta: float
    accountant: str

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> JobBudget | None:
        """The budget if the job sets one, else None; inconsistent settings raise
        :class:`PrivacyParameterError`."""
        target = run_config.get("privacy-budget-epsilon")
        if target is None:
            return None
        problems = []
        if isinstance(target, bool) or not isinstance(target, int | float) or not target > 0:
            problems.append(f"privacy-budget-epsilon must be a number > 0, got {target!r}")
        delta = run_config.get("privacy-budget-delta", run_config.get("dp-delta", 1e-5))
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
            problems.append(f"privacy-budget-delta must be in (0, 1), got {delta!r}")
        accountant = str(run_config.get("dp-accountant", "rdp"))
        if accountant not in ACCOUNTANTS:
            problems.append(f"dp-accountant must be one of {', '.join(sorted(ACCOUNTANTS))}")
        if run_config.get("dp-noise-multiplier") is None and (
            run_config.get("dp-target-epsilon") is None
        ):
            problems.append(
                "privacy-budget-epsilon needs DP-SGD: set dp-noise-multiplier or "
                "dp-target-epsilon (without noise, epsilon is infinite)"
            )
        if problems:
            raise PrivacyParameterError("; ".join(problems))
        return cls(epsilon=float(target), delta=float(delta), accountant=accountant)


def missing_spend(metrics: Mapping[str, float]) -> str | None:
    """Why an update's metrics cannot be charged to a budget (no or bad ``dp_*``), else None.

    >>> missing_spend({"train_loss": 0.3})
    'the update reports no DP spend (dp_noise_multiplier, dp_sample_rate, dp_steps)'
    """
    if not all(key in metrics for key in _HISTORY_KEYS):
        return f"the update reports no DP spend ({', '.join(_HISTORY_KEYS)})"
    sigma, rate, steps = (metrics[key] for key in _HISTORY_KEYS)
    if not (math.isfinite(sigma) and sigma > 0 and 0 < rate <= 1 and steps >= 0):
        return f"the update reports an impossible DP spend: {sigma=}, {rate=}, {steps=}"
    return None


@dataclass
class BudgetTracker:
    """Per-participant DP histories of one job, checked against its :class:`JobBudget`."""

    budget: JobBudget
    histories: dict[str, list[Run]] = field(default_factory=dict)
    rounds: int = 0

    def record_round(self, participant_metrics: Mapping[str, Mapping[str, float]]) -> None:
        """Add one round's reported spends (participants without ``dp_*`` are skipped: the
        Grid refuses their updates in a budgeted job)."""
        self.rounds += 1
        for participant, metrics in participant_metrics.items():
            if missing_spend(metrics) is None:
                sigma, rate, steps = (metrics[key] for key in _HISTORY_KEYS)
                self.histories.setdefault(participant, []).append(
                    (float(sigma), float(rate), int(steps))
                )

    def spent(self, participant: str, *, accountant: str | None = None) -> float:
        """Epsilon ``participant`` spent in this job so far."""
        return self._epsilon(self.histories.get(participant, []), accountant)

    def exceeded_by_next_round(self) -> str | None:
        """Why the job must stop now (one more round like the last would exceed the budget for
        someone), else None."""
        for participant in sorted(self.histories):
            history = self.histories[participant]
            planned = [*history, history[-1]]
            if self._epsilon(planned, "rdp") <= self.budget.epsilon:
                continue  # RDP bounds the tighter PRV from above
            after = self._epsilon(planned, None)
            if after > self.budget.epsilon:
                return (
                    f"privacy budget reached after round {self.rounds}: one more round would "
                    f"take {participant} to epsilon {after:.4g} > {self.budget.epsilon:g} "
                    f"(delta {self.budget.delta:g}, {self.budget.accountant}); spent so far "
                    f"{self.spent(participant):.4g}"
                )
        return None

    def _epsilon(self, history: list[Run], accountant: str | None) -> float:
        return composed_epsilon(
            accountant=accountant or self.budget.accountant,
            history=history,
            delta=self.budget.delta,
        )
