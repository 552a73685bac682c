"""Secure aggregation (SecAgg+) with Flower's own protocol code, made strict for Consortium.

- :mod:`.settings`: the job's SecAgg+ settings, read and checked from its run config;
- :mod:`.server`: Flower's ``SecAggPlusWorkflow`` that fails loudly instead of halting quietly,
  and the legacy-workflow round loop a ServerApp calls;
- :mod:`.client`: the participant side, Flower's ``secaggplus_mod`` around a task's training.
"""

from __future__ import annotations

from .errors import SecureAggregationConfigError, SecureAggregationHaltedError
from .settings import SECURE_AGGREGATION_KEY, SecureAggregationSettings

__all__ = [
    "SECURE_AGGREGATION_KEY",
    "SecureAggregationConfigError",
    "SecureAggregationHaltedError",
    "SecureAggregationSettings",
]
