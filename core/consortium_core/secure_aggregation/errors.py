"""Typed errors of secure aggregation."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = ["SecureAggregationConfigError", "SecureAggregationHaltedError"]


class SecureAggregationConfigError(ConsortiumError, ValueError):
    """A job's SecAgg+ settings that cannot work; the text says what to change."""


class SecureAggregationHaltedError(ConsortiumError, RuntimeError):
    """The SecAgg+ protocol stopped before producing an aggregate; the text says why."""
