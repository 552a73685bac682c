"""Typed errors of the metrics service; ``problems.py`` maps them to HTTP problem responses."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = ["InvalidQueryError", "MetricsError", "NotReadyError"]


class MetricsError(ConsortiumError):
    """Base class of the metrics service's errors."""


class NotReadyError(MetricsError):
    """Postgres or NATS is not connected, or the consumer is not running (yet)."""


class InvalidQueryError(MetricsError, ValueError):
    """A read-model query with arguments out of range (a negative offset, a limit of 0...)."""
