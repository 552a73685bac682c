"""Differential-privacy accounting: epsilon from the inputs of DP-SGD, by a named accountant.

Pure maths over Opacus's accountants; no training code lives here (that is in the tasks).
"""

from __future__ import annotations

from .accounting import (
    ACCOUNTANTS,
    PrivacySpend,
    composed_epsilon,
    epsilon,
    known_accountants,
    noise_multiplier_for,
)
from .errors import PrivacyError, PrivacyParameterError

__all__ = [
    "ACCOUNTANTS",
    "PrivacyError",
    "PrivacyParameterError",
    "PrivacySpend",
    "composed_epsilon",
    "epsilon",
    "known_accountants",
    "noise_multiplier_for",
]
