"""Typed errors of the core library. Every error a user can cause has a class and a clear text."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConsortiumError",
    "InvalidUpdateError",
    "UnknownNameError",
    "WireFormatError",
]


class ConsortiumError(Exception):
    """Base class of every error raised on purpose by Consortium code."""


class UnknownNameError(ConsortiumError, LookupError):
    """A name (task, strategy, partitioner, ...) that is not registered; lists the known ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")


class WireFormatError(ConsortiumError, ValueError):
    """Bytes on the wire that are not a valid Consortium frame."""


class InvalidUpdateError(ConsortiumError, ValueError):
    """A model update from a participant that must not be aggregated (shape, dtype, NaN, Inf)."""
