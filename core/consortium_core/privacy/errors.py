"""Typed errors of the privacy package."""

from __future__ import annotations

from pathlib import Path

from consortium_core.errors import ConsortiumError

__all__ = [
    "CorruptLedgerError",
    "LedgerNotFoundError",
    "PrivacyBudgetExceeded",
    "PrivacyError",
    "PrivacyLedgerError",
    "PrivacyParameterError",
    "UnaccountedTrainingRefused",
    "UnsupportedLedgerVersionError",
]


class PrivacyError(ConsortiumError):
    """Base class of the errors raised by privacy accounting and DP training."""


class PrivacyParameterError(PrivacyError, ValueError):
    """An input of the privacy accounting (delta, sample rate, steps, noise) out of its range."""


class PrivacyBudgetExceeded(PrivacyError):
    """A charge to a participant's privacy ledger that would take its spent epsilon over its limit.

    Nothing was recorded. The attributes say why: ``spent`` before the charge, ``cost`` (how much
    this charge would have added), ``limit``, the ledger's ``delta`` and ``path``.
    """

    def __init__(
        self,
        *,
        job_id: str,
        server_round: int,
        spent: float,
        cost: float,
        limit: float,
        delta: float,
        accountant: str,
        path: Path,
    ) -> None:
        self.job_id = job_id
        self.server_round = server_round
        self.spent = spent
        self.cost = cost
        self.limit = limit
        self.delta = delta
        self.accountant = accountant
        self.path = path
        super().__init__(
            f"privacy budget exceeded: round {server_round} of job {job_id} would cost "
            f"epsilon {cost:.4g}, and this participant has already spent {spent:.4g} of its "
            f"limit {limit:.4g} (delta {delta:g}, {accountant} accountant; ledger {path}); "
            "nothing was recorded"
        )


class UnaccountedTrainingRefused(PrivacyError):
    """A participant that keeps an epsilon limit was asked to release an update trained
    without DP (no finite epsilon): it refuses, whatever its remaining budget."""

    def __init__(self, *, job_id: str, server_round: int, limit: float) -> None:
        self.job_id = job_id
        self.server_round = server_round
        self.limit = limit
        super().__init__(
            f"privacy budget: this participant keeps an epsilon limit of {limit:g} and round "
            f"{server_round} of job {job_id} trains without DP (no finite epsilon); refused, "
            "nothing was released"
        )


class PrivacyLedgerError(PrivacyError):
    """A participant's privacy ledger file that cannot be used as it is."""


class LedgerNotFoundError(PrivacyLedgerError, FileNotFoundError):
    """No privacy ledger file where one was expected."""


class CorruptLedgerError(PrivacyLedgerError):
    """A ledger file that is not a valid ledger; it is left untouched, never reset."""


class UnsupportedLedgerVersionError(PrivacyLedgerError):
    """A ledger file of a format version this release does not read (a newer release's)."""
