"""Typed errors of the privacy package."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = ["PrivacyError", "PrivacyParameterError"]


class PrivacyError(ConsortiumError):
    """Base class of the errors raised by privacy accounting and DP training."""


class PrivacyParameterError(PrivacyError, ValueError):
    """An input of the privacy accounting (delta, sample rate, steps, noise) out of its range."""
