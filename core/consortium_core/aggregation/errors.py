"""Typed errors of the aggregation kernels: bad input is refused with a clear text."""

from __future__ import annotations

from ..errors import ConsortiumError

__all__ = [
    "AggregationInputError",
    "InvalidParameterError",
    "ShapeMismatchError",
    "TooFewUpdatesError",
]


class AggregationInputError(ConsortiumError, ValueError):
    """Base class: the updates or weights given to an aggregation kernel cannot be aggregated."""


class ShapeMismatchError(AggregationInputError):
    """Clients' updates differ in keys, shapes or dtypes, or the matrix is not (K, N) float32."""


class TooFewUpdatesError(AggregationInputError):
    """Fewer updates than the rule needs for its assumed number of malicious clients ``f``."""


class InvalidParameterError(AggregationInputError):
    """A rule's parameter (weights, ``beta``, number to select) is outside its valid range."""
