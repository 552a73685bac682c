"""The participant's privacy ledger: limits across jobs, persistence, locking, damaged files."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from consortium_core.errors import UnknownNameError
from consortium_core.privacy import (
    CorruptLedgerError,
    LedgerNotFoundError,
    LedgerSummary,
    PrivacyBudgetExceeded,
    PrivacyError,
    PrivacyLedger,
    PrivacyParameterError,
    UnsupportedLedgerVersionError,
    composed_epsilon,
)

SIGMA, RATE, STEPS, DELTA = 1.0, 0.01, 100, 1e-5


def eps(steps: int, *, accountant: str = "rdp", delta: float = DELTA) -> float:
    return composed_epsilon(accountant=accountant, history=[(SIGMA, RATE, steps)], delta=delta)


def one_round(ledger: PrivacyLedger, job_id: str, server_round: int, **overrides: Any) -> Any:
    given = {
        "job_id": job_id,
        "run_id": 11,
        "server_round": server_round,
        "noise_multiplier": SIGMA,
        "sample_rate": RATE,
        "steps": STEPS,
        "delta": DELTA,
        **overrides,
    }
    return ledger.charge(**given)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "privacy" / "ledger.json"


def test_a_second_job_is_refused_when_it_would_go_over_the_limit(path: Path) -> None:
    limit = (eps(3 * STEPS) + eps(4 * STEPS)) / 2  # room for three rounds, not four
    ledger = PrivacyLedger(path, epsilon_limit=limit, accountant="rdp")
    for server_round in (1, 2):
        one_round(ledger, "job-1", server_round)
    one_round(ledger, "job-2", 1)
    before = path.read_bytes()
    with pytest.raises(PrivacyBudgetExceeded) as refused:
        one_round(ledger, "job-2", 2)
    error = refused.value
    assert isinstance(error, PrivacyError)
    assert error.spent == pytest.approx(eps(3 * STEPS))
    assert error.cost == pytest.approx(eps(4 * STEPS) - eps(3 * STEPS))
    assert error.limit == limit
    text = str(error)
    for part in (f"{error.spent:.4g}", f"{error.cost:.4g}", f"{limit:.4g}", str(path), "job-2"):
        assert part in text
    assert path.read_bytes() == before  # nothing recorded
    assert len(ledger.entries()) == 3


def test_spent_composes_every_job_at_the_ledgers_delta(path: Path) -> None:
    ledger = PrivacyLedger(path, delta=1e-6, accountant="rdp")
    one_round(ledger, "job-1", 1)
    one_round(ledger, "job-1", 2, delta=1e-3)  # the job's own delta does not change composition
    one_round(ledger, "job-2", 1, noise_multiplier=2.0)
    history = [(SIGMA, RATE, 2 * STEPS), (2.0, RATE, STEPS)]
    assert ledger.spent() == composed_epsilon(accountant="rdp", history=history, delta=1e-6)
    assert ledger.job_spent("job-1") == eps(2 * STEPS, delta=1e-6)
    assert ledger.job_spent("no-such-job") == 0.0


def test_the_ledger_and_its_policy_persist_across_instances(path: Path) -> None:
    first = PrivacyLedger(path, epsilon_limit=5.0, delta=1e-6, accountant="rdp")
    charge = one_round(first, "job-1", 1)
    again = PrivacyLedger.open(path)
    assert (again.epsilon_limit, again.delta, again.accountant) == (5.0, 1e-6, "rdp")
    assert again.entries() == [charge.entry]
    assert again.spent() == charge.spent
    one_round(again, "job-2", 1)
    document = json.loads(path.read_text())  # plain, readable JSON
    assert [entry["job_id"] for entry in document["entries"]] == ["job-1", "job-2"]
    assert document["entries"][0]["run_id"] == 11


def test_save_policy_writes_a_ledger_without_entries(path: Path) -> None:
    PrivacyLedger(path, epsilon_limit=2.0).save_policy()
    opened = PrivacyLedger.open(path)
    assert (opened.epsilon_limit, opened.accountant, opened.entries()) == (2.0, "prv", [])


def test_an_unlimited_ledger_still_records_and_has_no_remaining(path: Path) -> None:
    ledger = PrivacyLedger(path, accountant="prv")  # prv: the default accountant
    charge = one_round(ledger, "job-1", 1)
    assert charge.remaining is None and ledger.remaining() is None
    assert ledger.spent() == pytest.approx(eps(STEPS, accountant="prv"))
    summary = ledger.summary()
    assert summary.epsilon_limit is None and summary.remaining is None
    assert summary.spent == ledger.spent()


def test_a_lowered_limit_leaves_nothing_remaining_and_refuses(path: Path) -> None:
    one_round(PrivacyLedger(path, accountant="rdp"), "job-1", 1)
    lowered = PrivacyLedger(path, epsilon_limit=eps(STEPS) / 2, accountant="rdp")
    assert lowered.remaining() == 0.0
    with pytest.raises(PrivacyBudgetExceeded):
        one_round(lowered, "job-2", 1)


def test_summary_per_job(path: Path) -> None:
    ledger = PrivacyLedger(path, epsilon_limit=100.0, accountant="rdp")
    one_round(ledger, "job-1", 1)
    one_round(ledger, "job-2", 1, steps=50)
    one_round(ledger, "job-1", 2)
    summary = ledger.summary()
    assert [(job.job_id, job.rounds, job.steps) for job in summary.jobs] == [
        ("job-1", 2, 2 * STEPS),
        ("job-2", 1, 50),
    ]
    assert summary.jobs[0].epsilon == eps(2 * STEPS)
    assert summary.remaining == pytest.approx(100.0 - summary.spent)
    assert summary.path == str(path)
    assert LedgerSummary.model_validate_json(summary.model_dump_json()) == summary


def test_a_bad_charge_names_every_problem_and_records_nothing(path: Path) -> None:
    ledger = PrivacyLedger(path, accountant="rdp")
    with pytest.raises(PrivacyParameterError) as bad:
        one_round(ledger, "", -1, noise_multiplier=0.0, sample_rate=1.5)
    for field in ("job_id", "server_round", "noise_multiplier", "sample_rate"):
        assert field in str(bad.value)
    assert not path.exists()


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(PrivacyParameterError, match="epsilon_limit"):
        PrivacyLedger("ledger.json", epsilon_limit=-1.0)
    with pytest.raises(UnknownNameError, match="known: prv, rdp"):
        PrivacyLedger("ledger.json", accountant="gdp")


def test_opening_a_missing_ledger_is_a_typed_error(path: Path) -> None:
    with pytest.raises(LedgerNotFoundError):
        PrivacyLedger.open(path)
    assert PrivacyLedger(path).spent() == 0.0  # reading a ledger not yet written: nothing spent


@pytest.mark.parametrize(
    ("content", "error", "says"),
    [
        (b'{"v": 1, "delta": 1e-5, "accoun', CorruptLedgerError, "not valid JSON"),
        (b"", CorruptLedgerError, "not valid JSON"),
        (b"[]", CorruptLedgerError, "no format version"),
        (b'{"v": 2, "entries": []}', UnsupportedLedgerVersionError, "format version 2"),
        (b'{"v": 1, "delta": 1e-5, "accountant": "prv", "entries": [{"job_id": "j"}]}',
         CorruptLedgerError, "entries.0.server_round"),
    ],
)  # fmt: skip
def test_a_damaged_ledger_is_an_error_and_is_never_reset(
    path: Path, content: bytes, error: type[Exception], says: str
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    ledger = PrivacyLedger(path, epsilon_limit=10.0, accountant="rdp")
    for action in (
        ledger.spent,
        ledger.summary,
        ledger.save_policy,
        lambda: PrivacyLedger.open(path),
    ):
        with pytest.raises(error, match=says) as raised:
            action()
        assert str(path) in str(raised.value) and "left as it is" in str(raised.value)
    with pytest.raises(error):
        one_round(ledger, "job-1", 1)
    assert path.read_bytes() == content


def _charge_until_refused(path: str, limit: float, tries: int, start: Any, done: Any) -> None:
    """One competing process: its number of successful charges, or what went wrong, to ``done``."""
    try:
        ledger = PrivacyLedger(path, epsilon_limit=limit, accountant="rdp")
        start.wait()
        charged = 0
        for server_round in range(tries):
            try:
                one_round(ledger, f"job-{multiprocessing.current_process().name}", server_round)
                charged += 1
            except PrivacyBudgetExceeded:
                pass
        done.put(charged)
    except BaseException as exc:  # report it: the test must not wait for an answer never sent
        done.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_charging_at_once_never_exceed_the_limit(path: Path) -> None:
    fits = 6
    limit = (eps(fits * STEPS) + eps((fits + 1) * STEPS)) / 2
    context = multiprocessing.get_context("fork")  # the children need nothing re-imported
    start, done = context.Event(), context.Queue()
    workers = [
        context.Process(
            target=_charge_until_refused,
            args=(str(path), limit, fits, start, done),
            name=f"p{i}",
        )
        for i in range(2)
    ]
    for worker in workers:
        worker.start()
    start.set()
    charged = [done.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(isinstance(count, int) for count in charged), charged
    ledger = PrivacyLedger.open(path)
    assert sum(charged) == len(ledger.entries()) == fits  # every success kept, none too many
    assert ledger.spent() <= limit
