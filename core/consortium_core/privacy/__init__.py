"""Differential-privacy accounting: epsilon from the inputs of DP-SGD, by a named accountant,
and each participant's persistent ledger of what it has spent across jobs.

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
from .errors import (
    CorruptLedgerError,
    LedgerNotFoundError,
    PrivacyBudgetExceeded,
    PrivacyError,
    PrivacyLedgerError,
    PrivacyParameterError,
    UnsupportedLedgerVersionError,
)
from .job_budget import BudgetTracker, JobBudget, missing_spend
from .ledger import DEFAULT_ACCOUNTANT, DEFAULT_DELTA, PrivacyLedger
from .ledger_models import JobSpend, LedgerCharge, LedgerEntry, LedgerSummary

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_ACCOUNTANT",
    "DEFAULT_DELTA",
    "BudgetTracker",
    "CorruptLedgerError",
    "JobBudget",
    "JobSpend",
    "LedgerCharge",
    "LedgerEntry",
    "LedgerNotFoundError",
    "LedgerSummary",
    "PrivacyBudgetExceeded",
    "PrivacyError",
    "PrivacyLedger",
    "PrivacyLedgerError",
    "PrivacyParameterError",
    "PrivacySpend",
    "UnsupportedLedgerVersionError",
    "composed_epsilon",
    "epsilon",
    "known_accountants",
    "missing_spend",
    "noise_multiplier_for",
]
