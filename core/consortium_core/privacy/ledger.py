"""A participant's persistent privacy ledger: every DP-SGD round it trained, across all jobs.

The participant sets its own epsilon limit (or none: spending is then still recorded). What it
has spent is the composition, by the ledger's accountant and at the ledger's delta, of every
entry ever recorded, whatever job it came from. :meth:`PrivacyLedger.charge` checks and records
one round under the ledger's lock, so two processes sharing a home can never together go over
the limit. A file that cannot be read is an error, never a fresh start.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "ledger.json"
>>> ledger = PrivacyLedger(path, epsilon_limit=2.5, delta=1e-5, accountant="rdp")
>>> charge = ledger.charge(job_id="j-1", run_id=7, server_round=1, noise_multiplier=1.0,
...                       sample_rate=0.01, steps=1000, delta=1e-5)
>>> round(charge.spent, 2), round(charge.remaining, 2)
(2.1, 0.4)
>>> ledger.charge(job_id="j-2", server_round=1, noise_multiplier=1.0, sample_rate=0.01,
...               steps=1000, delta=1e-5)
Traceback (most recent call last):
...
consortium_core.privacy.errors.PrivacyBudgetExceeded: privacy budget exceeded: round 1 of job ...
>>> [job.job_id for job in PrivacyLedger.open(path).summary().jobs]
['j-1']
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from consortium_core.contracts import node_config as keys
from consortium_core.errors import UnknownNameError

from .accounting import ACCOUNTANTS, composed_epsilon
from .errors import (
    CorruptLedgerError,
    LedgerNotFoundError,
    PrivacyBudgetExceeded,
    PrivacyParameterError,
    UnsupportedLedgerVersionError,
)
from .ledger_file import LEFT_AS_IT_IS, exclusive_lock, read_json, write_json
from .ledger_models import (
    LEDGER_VERSION,
    JobSpend,
    LedgerCharge,
    LedgerDocument,
    LedgerEntry,
    LedgerSummary,
)

__all__ = ["DEFAULT_ACCOUNTANT", "DEFAULT_DELTA", "PrivacyLedger"]

DEFAULT_DELTA = 1e-5
DEFAULT_ACCOUNTANT = "prv"


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'ledger'}: {problem['msg']}"
        for problem in error.errors()
    )


class PrivacyLedger:
    """The ledger file at ``path``, read and charged with this participant's policy.

    The policy given here (``epsilon_limit``, ``delta``, ``accountant``) is the one applied and
    is written into the file with the next charge or :meth:`save_policy`; :meth:`open` reads
    back the policy last written. Every method reads the file afresh: instances hold no entries.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        epsilon_limit: float | None = None,
        delta: float = DEFAULT_DELTA,
        accountant: str = DEFAULT_ACCOUNTANT,
    ) -> None:
        if accountant not in ACCOUNTANTS:
            raise UnknownNameError("accountant", accountant, ACCOUNTANTS)
        try:
            policy = LedgerDocument(epsilon_limit=epsilon_limit, delta=delta, accountant=accountant)
        except ValidationError as exc:
            raise PrivacyParameterError(
                f"invalid privacy ledger policy: {_problems(exc)}"
            ) from None
        self.path = Path(path)
        self.epsilon_limit = policy.epsilon_limit
        self.delta = policy.delta
        self.accountant = policy.accountant

    @classmethod
    def open(cls, path: Path | str) -> Self:
        """The ledger at ``path`` with the policy stored in it; raises if there is no file."""
        path = Path(path)
        document = cls._read(path)
        if document is None:
            raise LedgerNotFoundError(f"no privacy ledger at {path}")
        return cls(
            path,
            epsilon_limit=document.epsilon_limit,
            delta=document.delta,
            accountant=document.accountant,
        )

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Any]) -> Self | None:
        """The ledger the client runtime named in a run's node config, or ``None`` if it named
        none (simulation, or a runtime without a participant home).

        >>> PrivacyLedger.from_node_config({"partition-id": 0}) is None
        True
        >>> given = {"privacy-ledger": "/p/ledger.json", "privacy-epsilon-limit": 8,
        ...          "privacy-delta": 1e-6}
        >>> ledger = PrivacyLedger.from_node_config(given)
        >>> ledger.epsilon_limit, ledger.delta, ledger.accountant
        (8.0, 1e-06, 'prv')
        """
        path = node_config.get(keys.PRIVACY_LEDGER)
        if path is None:
            return None
        limit = node_config.get(keys.PRIVACY_EPSILON_LIMIT)
        return cls(
            str(path),
            epsilon_limit=None if limit is None else float(limit),
            delta=float(node_config.get(keys.PRIVACY_DELTA, DEFAULT_DELTA)),
            accountant=str(node_config.get(keys.PRIVACY_ACCOUNTANT, DEFAULT_ACCOUNTANT)),
        )

    def to_node_config(self) -> dict[str, str | float]:
        """The node-config keys that name this ledger and its policy, for the client runtime to
        hand to every run (:mod:`consortium_core.contracts.node_config`).

        >>> ledger = PrivacyLedger("/p/privacy/ledger.json", delta=1e-6, accountant="rdp")
        >>> for key, value in ledger.to_node_config().items():
        ...     print(key, value)
        privacy-ledger /p/privacy/ledger.json
        privacy-delta 1e-06
        privacy-accountant rdp
        >>> again = PrivacyLedger.from_node_config(ledger.to_node_config())
        >>> (again.path, again.epsilon_limit, again.delta, again.accountant)
        (PosixPath('/p/privacy/ledger.json'), None, 1e-06, 'rdp')
        """
        config: dict[str, str | float] = {
            keys.PRIVACY_LEDGER: str(self.path),
            keys.PRIVACY_DELTA: self.delta,
            keys.PRIVACY_ACCOUNTANT: self.accountant,
        }
        if self.epsilon_limit is not None:
            config[keys.PRIVACY_EPSILON_LIMIT] = self.epsilon_limit
        return config

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger({str(self.path)!r}, epsilon_limit={self.epsilon_limit}, "
            f"delta={self.delta}, accountant={self.accountant!r})"
        )

    # --- reading ------------------------------------------------------------------------------

    def entries(self) -> list[LedgerEntry]:
        """Every charge recorded, oldest first."""
        document = self._read(self.path)
        return [] if document is None else list(document.entries)

    def spent(self) -> float:
        """Epsilon of every entry of every job composed, at the ledger's delta."""
        return self._compose(self.entries())

    def remaining(self) -> float | None:
        """What is left of the limit (at least 0), or ``None`` when there is no limit."""
        return self._remaining(self.spent())

    def job_spent(self, job_id: str) -> float:
        """Epsilon of one job's entries composed, at the ledger's delta (0 if it has none)."""
        return self._compose([entry for entry in self.entries() if entry.job_id == job_id])

    def summary(self) -> LedgerSummary:
        """Policy, spent, remaining, and each job's rounds, steps and epsilon."""
        entries = self.entries()
        by_job: dict[str, list[LedgerEntry]] = {}
        for entry in entries:
            by_job.setdefault(entry.job_id, []).append(entry)
        spent = self._compose(entries)
        return LedgerSummary(
            path=str(self.path),
            epsilon_limit=self.epsilon_limit,
            delta=self.delta,
            accountant=self.accountant,
            spent=spent,
            remaining=self._remaining(spent),
            jobs=[
                JobSpend(
                    job_id=job_id,
                    rounds=len(charges),
                    steps=sum(entry.steps for entry in charges),
                    epsilon=self._compose(charges),
                    first_recorded_at=charges[0].recorded_at,
                    last_recorded_at=charges[-1].recorded_at,
                )
                for job_id, charges in by_job.items()
            ],
        )

    # --- writing ------------------------------------------------------------------------------

    def charge(
        self,
        *,
        job_id: str,
        run_id: int | None = None,
        server_round: int,
        noise_multiplier: float,
        sample_rate: float,
        steps: int,
        delta: float,
    ) -> LedgerCharge:
        """Record one round of DP-SGD if the ledger stays within its limit after it.

        Check and record happen under the ledger's lock. Over the limit, raises
        :class:`PrivacyBudgetExceeded` and records nothing. Without a limit nothing is
        checked, and the charge's ``spent`` is None (ask :meth:`spent`).
        """
        try:
            entry = LedgerEntry(
                job_id=job_id,
                run_id=run_id,
                server_round=server_round,
                noise_multiplier=noise_multiplier,
                sample_rate=sample_rate,
                steps=steps,
                delta=delta,
                recorded_at=datetime.now(UTC),
            )
        except ValidationError as exc:
            raise PrivacyParameterError(f"invalid privacy charge: {_problems(exc)}") from None
        with exclusive_lock(self.path):
            document = self._read(self.path)
            before = [] if document is None else document.entries
            if self.epsilon_limit is None:
                # Nothing to check: record at once. Composing (PRV: up to seconds with many
                # distinct settings) is left to spent()/summary(), when someone asks.
                self._write([*before, entry])
                return LedgerCharge(entry=entry, spent=None, remaining=None)
            spent = self._compose([*before, entry])
            if spent > self.epsilon_limit:
                already = self._compose(before)
                raise PrivacyBudgetExceeded(
                    job_id=job_id,
                    server_round=server_round,
                    spent=already,
                    cost=spent - already,
                    limit=self.epsilon_limit,
                    delta=self.delta,
                    accountant=self.accountant,
                    path=self.path,
                )
            self._write([*before, entry])
        return LedgerCharge(entry=entry, spent=spent, remaining=self._remaining(spent))

    def save_policy(self) -> None:
        """Write this ledger's policy into the file (creating it if needed), entries unchanged.

        Raises if the file there cannot be read: a damaged ledger is never overwritten.
        """
        with exclusive_lock(self.path):
            document = self._read(self.path)
            self._write([] if document is None else document.entries)

    # --- helpers ------------------------------------------------------------------------------

    def _compose(self, entries: list[LedgerEntry]) -> float:
        history = [entry.as_run() for entry in entries]
        return composed_epsilon(accountant=self.accountant, history=history, delta=self.delta)

    def _remaining(self, spent: float) -> float | None:
        return None if self.epsilon_limit is None else max(0.0, self.epsilon_limit - spent)

    def _write(self, entries: list[LedgerEntry]) -> None:
        document = LedgerDocument(
            epsilon_limit=self.epsilon_limit,
            delta=self.delta,
            accountant=self.accountant,
            entries=entries,
        )
        write_json(self.path, document.model_dump(mode="json"))

    @staticmethod
    def _read(path: Path) -> LedgerDocument | None:
        raw = read_json(path)
        if raw is None:
            return None
        version = raw.get("v") if isinstance(raw, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptLedgerError(
                f"privacy ledger {path} has no format version (an integer 'v'); {LEFT_AS_IT_IS}"
            )
        if version != LEDGER_VERSION:
            raise UnsupportedLedgerVersionError(
                f"privacy ledger {path} has format version {version}; this release reads version "
                f"{LEDGER_VERSION} only (was it written by a newer Consortium?); {LEFT_AS_IT_IS}"
            )
        try:
            return LedgerDocument.model_validate(raw)
        except ValidationError as exc:
            raise CorruptLedgerError(
                f"privacy ledger {path} is not a valid ledger ({_problems(exc)}); {LEFT_AS_IT_IS}"
            ) from None
