"""What a participant's privacy ledger holds (its file, version 1) and what it reports.

The file is one :class:`LedgerDocument` as indented JSON, so a participant can read it::

    {
      "v": 1,
      "epsilon_limit": 8.0,
      "delta": 1e-05,
      "accountant": "prv",
      "entries": [
        {"job_id": "j-1", "run_id": 7, "server_round": 1, "noise_multiplier": 1.1,
         "sample_rate": 0.01, "steps": 100, "delta": 1e-05,
         "recorded_at": "2025-01-01T12:00:00Z"}
      ]
    }

>>> doc = LedgerDocument(delta=1e-5, accountant="rdp")
>>> LedgerDocument.model_validate_json(doc.model_dump_json()) == doc
True
>>> LedgerDocument(delta=1e-5, accountant="gdp")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LedgerDocument
accountant
  Value error, unknown accountant 'gdp'; known: prv, rdp ...
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from consortium_core.errors import UnknownNameError

from .accounting import ACCOUNTANTS

__all__ = [
    "LEDGER_VERSION",
    "JobSpend",
    "LedgerCharge",
    "LedgerDocument",
    "LedgerEntry",
    "LedgerSummary",
]

LEDGER_VERSION: Final = 1


class LedgerEntry(BaseModel):
    """One charge: the DP-SGD inputs of one round of one job, as trained on this participant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1, description="the coordinator's id of the job")
    run_id: int | None = Field(None, description="Flower run id of the job, when known")
    server_round: int = Field(ge=0)
    noise_multiplier: float = Field(gt=0, allow_inf_nan=False)
    sample_rate: float = Field(gt=0, le=1)
    steps: int = Field(ge=0)
    delta: float = Field(
        gt=0, lt=1, description="the job's own delta; the ledger composes at its own delta"
    )
    recorded_at: AwareDatetime

    def as_run(self) -> tuple[float, float, int]:
        """``(noise_multiplier, sample_rate, steps)``, as accounting composes it."""
        return (self.noise_multiplier, self.sample_rate, self.steps)


class LedgerDocument(BaseModel):
    """The whole ledger file: the participant's policy and every charge ever recorded."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = LEDGER_VERSION
    epsilon_limit: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="the participant's own limit; none: unlimited"
    )
    delta: float = Field(gt=0, lt=1, description="delta at which the ledger composes")
    accountant: str = Field(description="accountant the ledger composes with: prv or rdp")
    entries: list[LedgerEntry] = Field(default_factory=list)

    @field_validator("accountant")
    @classmethod
    def _known_accountant(cls, name: str) -> str:
        if name not in ACCOUNTANTS:
            raise ValueError(str(UnknownNameError("accountant", name, ACCOUNTANTS)))
        return name


class JobSpend(BaseModel):
    """What one job has spent on this participant, composed at the ledger's delta."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    rounds: int = Field(description="charges recorded for the job (one per trained round)")
    steps: int = Field(description="noisy gradient steps over all its rounds")
    epsilon: float = Field(description="the job's own rounds composed, at the ledger's delta")
    first_recorded_at: datetime
    last_recorded_at: datetime


class LedgerSummary(BaseModel):
    """The ledger at a glance: policy, spent, remaining, and each job's part."""

    model_config = ConfigDict(frozen=True)

    path: str
    epsilon_limit: float | None = Field(description="none: no limit (spending still recorded)")
    delta: float
    accountant: str
    spent: float = Field(description="every entry of every job composed, at the ledger's delta")
    remaining: float | None = Field(description="limit minus spent, at least 0; none: unlimited")
    jobs: list[JobSpend] = Field(description="in the order they were first charged")


class LedgerCharge(BaseModel):
    """A charge just recorded, and where the ledger stands after it."""

    model_config = ConfigDict(frozen=True)

    entry: LedgerEntry
    spent: float | None = Field(
        description="spent after this charge, at the ledger's delta; None: not computed "
        "(a ledger without a limit records without composing)"
    )
    remaining: float | None = Field(description="limit minus spent, at least 0; none: unlimited")
