"""Contribution of each participant to a round's model: Shapley values and cheaper estimates.

Pure functions over a *utility* (a coalition of participants -> how good the model built from
their updates is on a validation set). :mod:`.coalitions` builds a coalition's model from a
round's updates the way FedAvg would have; :mod:`.estimators` holds the estimators, registered
by name in :data:`ESTIMATORS`: ``exact``, ``tmc`` (truncated Monte Carlo), ``gtg``
(GTG-Shapley) and ``loo`` (leave-one-out).
"""

from .coalitions import coalition_model, weighted_average
from .estimators import (
    ESTIMATORS,
    ContributionResult,
    estimate,
    exact_shapley,
    gtg_shapley,
    leave_one_out,
    tmc_shapley,
)
from .settings import CONTRIBUTIONS_KEY, ContributionSettings
from .utility import CountingUtility, Utility

__all__ = [
    "CONTRIBUTIONS_KEY",
    "ESTIMATORS",
    "ContributionResult",
    "ContributionSettings",
    "CountingUtility",
    "Utility",
    "coalition_model",
    "estimate",
    "exact_shapley",
    "gtg_shapley",
    "leave_one_out",
    "tmc_shapley",
    "weighted_average",
]
