"""A job's ``contributions`` setting: which estimator scores its rounds, if any.

Scoring needs each participant's whole update, which only the modes where the server sees
updates have (plain and DP jobs); under secure aggregation the server only ever sees the sum,
with compressed uploads (``compression.up``) it sees each update only as a lossy code, and
under FedAsync/FedBuff a round applies updates trained from older models, so a coalition's
average is not what the round did. Those jobs are not scored, and asking is refused.

>>> ContributionSettings.from_run_config({}).method
'gtg'
>>> ContributionSettings.from_run_config({"contributions": "exact"}).method
'exact'
>>> ContributionSettings.from_run_config({"contributions": "none"}) is None
True
>>> ContributionSettings.from_run_config({"secure-aggregation": True}) is None
True
>>> ContributionSettings.from_run_config({"compression.up": "q8"}) is None
True
>>> ContributionSettings.from_run_config({"strategy": "FedBuff"}) is None
True
>>> ContributionSettings.from_run_config({"secure-aggregation": True, "contributions": "gtg"})
Traceback (most recent call last):
...
consortium_core.errors.ConsortiumError: contributions need each participant's update, which \
secure aggregation hides from the server: set contributions to none or drop secure-aggregation
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..asynchronous import is_async_strategy
from ..errors import ConsortiumError, UnknownNameError
from ..secure_aggregation import SecureAggregationSettings
from .estimators import ESTIMATORS

__all__ = ["CONTRIBUTIONS_KEY", "DEFAULT_METHOD", "ContributionSettings"]

CONTRIBUTIONS_KEY = "contributions"
DEFAULT_METHOD = "gtg"
COMPRESSED_UPLOADS_KEY = "compression.up"
_OFF = {"none", "off", "false", "0", "no"}


@dataclass(frozen=True)
class ContributionSettings:
    """Score each round with ``method`` (a name in :data:`~.estimators.ESTIMATORS`)."""

    method: str

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> ContributionSettings | None:
        """The job's setting; ``None`` when it asks for none or runs under secure aggregation
        without asking. Asking for contributions under secure aggregation is an error."""
        secure = SecureAggregationSettings.from_run_config(run_config) is not None
        compressed = str(run_config.get(COMPRESSED_UPLOADS_KEY, "none")).lower() != "none"
        asynchronous = is_async_strategy(str(run_config.get("strategy", "")))
        raw = run_config.get(CONTRIBUTIONS_KEY)
        if raw is None:
            return None if secure or compressed or asynchronous else cls(DEFAULT_METHOD)
        value = DEFAULT_METHOD if raw is True else str(raw).strip().lower()
        if raw is False or value in _OFF:
            return None
        if value not in ESTIMATORS:
            raise UnknownNameError("contribution method", value, [*ESTIMATORS, "none"])
        if secure:
            raise ConsortiumError(
                "contributions need each participant's update, which secure aggregation hides "
                "from the server: set contributions to none or drop secure-aggregation"
            )
        if asynchronous:
            raise ConsortiumError(
                "contributions are not available for FedAsync/FedBuff: a round applies updates "
                "trained from older models, so no coalition of them is what the round did"
            )
        if compressed:
            raise ConsortiumError(
                "contributions need each participant's whole update, which compressed uploads "
                "(compression.up) do not send: set contributions to none or compression.up to none"
            )
        return cls(value)
