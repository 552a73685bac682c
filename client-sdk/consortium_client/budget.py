"""The participant's privacy ledger on the client: where it lives in the home, how ``run`` takes
it into use, and the ``consortium-client budget`` report.

The ledger (:class:`consortium_core.privacy.PrivacyLedger`) is ``<home>/privacy/ledger.json``;
``run`` writes its policy (the participant's epsilon limit, delta, accountant) there at start
and hands its path and policy to every run in the node config; the ClientApps charge it.
"""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

from consortium_core.privacy import LedgerNotFoundError, LedgerSummary, PrivacyLedger

__all__ = ["LEDGER_FILE", "adopt_ledger", "ledger_path", "render_summary", "stored_or_new"]

log = logging.getLogger(__name__)

LEDGER_FILE = Path("privacy") / "ledger.json"


def ledger_path(home: Path) -> Path:
    """The ledger file of the participant whose home is ``home`` (an absolute path).

    >>> ledger_path(Path("/srv/p1"))
    PosixPath('/srv/p1/privacy/ledger.json')
    """
    return (home / LEDGER_FILE).absolute()


def stored_or_new(path: Path, *, fallback: PrivacyLedger) -> PrivacyLedger:
    """The ledger at ``path`` with its stored policy, or ``fallback`` if there is no file yet."""
    try:
        return PrivacyLedger.open(path)
    except LedgerNotFoundError:
        return fallback


def _policy(ledger: PrivacyLedger) -> tuple[float | None, float, str]:
    return (ledger.epsilon_limit, ledger.delta, ledger.accountant)


def adopt_ledger(ledger: PrivacyLedger) -> None:
    """Write ``ledger``'s policy into its file (creating it), warning when the policy changes.

    Raises the ledger's error when the file there is damaged: ``run`` then refuses to start.
    """
    stored = stored_or_new(ledger.path, fallback=ledger)
    if _policy(stored) != _policy(ledger):
        log.warning(
            "privacy ledger %s: policy changed from limit %s, delta %g, %s to limit %s, "
            "delta %g, %s (what was spent is kept and counts against the new limit)",
            ledger.path,
            _limit_text(stored.epsilon_limit),
            stored.delta,
            stored.accountant,
            _limit_text(ledger.epsilon_limit),
            ledger.delta,
            ledger.accountant,
        )
    ledger.save_policy()
    log.info(
        "privacy ledger %s: limit %s at delta %g (%s accountant)",
        ledger.path,
        _limit_text(ledger.epsilon_limit),
        ledger.delta,
        ledger.accountant,
    )


def _limit_text(limit: float | None) -> str:
    return "none" if limit is None else f"{limit:g}"


def render_summary(summary: LedgerSummary) -> str:
    """The ``budget`` report: policy, spent, remaining, then one line per job.

    >>> from datetime import UTC, datetime
    >>> from consortium_core.privacy import JobSpend
    >>> at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    >>> job = JobSpend(job_id="j-1", rounds=3, steps=300, epsilon=1.25, first_recorded_at=at,
    ...                last_recorded_at=at)
    >>> print(render_summary(LedgerSummary(path="/p/privacy/ledger.json", epsilon_limit=8.0,
    ...       delta=1e-5, accountant="prv", spent=1.25, remaining=6.75, jobs=[job])))
    privacy ledger  /p/privacy/ledger.json
    limit           epsilon 8 at delta 1e-05 (prv accountant)
    spent           1.25
    remaining       6.75
    <BLANKLINE>
    job  rounds  steps  epsilon  last charged (UTC)
    j-1       3    300     1.25  2025-01-02 03:04:05
    """
    limit = (
        f"epsilon {summary.epsilon_limit:g} at delta {summary.delta:g} "
        f"({summary.accountant} accountant)"
        if summary.epsilon_limit is not None
        else f"none (spending is recorded, never refused; delta {summary.delta:g}, "
        f"{summary.accountant} accountant)"
    )
    remaining = "unlimited" if summary.remaining is None else f"{summary.remaining:.4g}"
    lines = [
        f"privacy ledger  {summary.path}",
        f"limit           {limit}",
        f"spent           {summary.spent:.4g}",
        f"remaining       {remaining}",
        "",
    ]
    if not summary.jobs:
        return "\n".join([*lines, "no differentially private training recorded yet"])
    rows = [("job", "rounds", "steps", "epsilon", "last charged (UTC)")]
    for job in summary.jobs:
        last = job.last_recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((job.job_id, str(job.rounds), str(job.steps), f"{job.epsilon:.4g}", last))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        numbers = (row[i].rjust(widths[i]) for i in range(1, 4))
        lines.append("  ".join([row[0].ljust(widths[0]), *numbers, row[4]]))
    return "\n".join(lines)
