"""``consortium-client budget``, and how ``run`` takes the privacy ledger into use at start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from consortium_client.cli import _ledger_for_run, _parser, main
from consortium_client.settings import ClientSettings
from consortium_core.privacy import LedgerSummary, PrivacyLedger


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings from the test, not from the machine: homes live under tmp_path."""
    for name in list(os.environ):
        if name.startswith("CONSORTIUM_CLIENT_"):
            monkeypatch.delenv(name)
    root = tmp_path / "identities"
    monkeypatch.setenv("CONSORTIUM_CLIENT_IDENTITIES_DIR", str(root))
    return root


def _charged_home(home: Path) -> PrivacyLedger:
    ledger = PrivacyLedger(
        home / "privacy" / "ledger.json", epsilon_limit=20.0, delta=1e-6, accountant="rdp"
    )
    for job, server_round in (("job-a", 1), ("job-b", 1), ("job-a", 2)):
        ledger.charge(
            job_id=job,
            run_id=1,
            server_round=server_round,
            noise_multiplier=1.0,
            sample_rate=0.01,
            steps=200,
            delta=1e-5,
        )
    return ledger


def test_budget_prints_policy_spent_remaining_and_jobs(tmp_path: Path, capsys) -> None:
    ledger = _charged_home(tmp_path / "home")
    assert main(["budget", "--home", str(tmp_path / "home")]) == 0
    out = capsys.readouterr().out
    assert str(ledger.path) in out
    assert "epsilon 20 at delta 1e-06 (rdp accountant)" in out
    assert f"spent           {ledger.spent():.4g}" in out
    assert f"remaining       {ledger.remaining():.4g}" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("job-")]
    assert [row[:3] for row in rows] == [["job-a", "2", "400"], ["job-b", "1", "200"]]


def test_budget_json_is_the_summary(tmp_path: Path, capsys) -> None:
    ledger = _charged_home(tmp_path / "home")
    assert main(["budget", "--home", str(tmp_path / "home"), "--json"]) == 0
    summary = LedgerSummary.model_validate_json(capsys.readouterr().out)
    assert summary == ledger.summary()


def test_budget_before_any_charge_shows_the_settings(
    monkeypatch: pytest.MonkeyPatch, _isolated_settings: Path, capsys
) -> None:
    monkeypatch.setenv("CONSORTIUM_CLIENT_PRIVACY_EPSILON_LIMIT", "4")
    assert main(["budget", "--participant", "clinic-7", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["path"] == str(_isolated_settings / "clinic-7" / "privacy" / "ledger.json")
    assert (described["epsilon_limit"], described["spent"], described["remaining"]) == (4, 0, 4)
    assert described["jobs"] == []
    assert main(["budget", "--participant", "clinic-7"]) == 0
    assert "no differentially private training recorded yet" in capsys.readouterr().out


def test_budget_of_an_unlimited_ledger(tmp_path: Path, capsys) -> None:
    PrivacyLedger(tmp_path / "privacy" / "ledger.json").save_policy()
    assert main(["budget", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "limit           none" in out and "remaining       unlimited" in out


def test_budget_of_a_corrupt_ledger_fails_clearly(tmp_path: Path, capsys) -> None:
    path = tmp_path / "privacy" / "ledger.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"v": 1, "entries": [')
    assert main(["budget", "--home", str(tmp_path)]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"privacy ledger {path} is not valid JSON" in captured.err
    assert "Traceback" not in captured.err
    assert path.read_text() == '{"v": 1, "entries": ['


def test_budget_needs_a_home_or_a_participant() -> None:
    with pytest.raises(SystemExit, match="give --home DIR or --participant ID"):
        main(["budget"])


def test_run_writes_its_policy_to_the_ledger_flags_over_settings(
    monkeypatch: pytest.MonkeyPatch, _isolated_settings: Path
) -> None:
    monkeypatch.setenv("CONSORTIUM_CLIENT_PRIVACY_EPSILON_LIMIT", "4")
    monkeypatch.setenv("CONSORTIUM_CLIENT_PRIVACY_DELTA", "1e-7")
    args = _parser().parse_args(
        ["run", "--participant", "p1", "--task", "digits-cnn", "--epsilon-limit", "2.5"]
    )
    ledger = _ledger_for_run(args, ClientSettings(), None, "p1")
    assert ledger.to_node_config() == {
        "privacy-ledger": str(_isolated_settings / "p1" / "privacy" / "ledger.json"),
        "privacy-epsilon-limit": 2.5,
        "privacy-delta": 1e-7,
        "privacy-accountant": "prv",
    }
    stored = PrivacyLedger.open(ledger.path)
    assert (stored.epsilon_limit, stored.delta, stored.accountant) == (2.5, 1e-7, "prv")


def test_run_refuses_to_start_on_a_corrupt_ledger(_isolated_settings: Path, capsys) -> None:
    path = _isolated_settings / "p1" / "privacy" / "ledger.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"v": 7}')
    code = main(["run", "--participant", "p1", "--nats", "nats://127.0.0.1:1", "--task", "x"])
    assert code != 0
    assert "format version 7" in capsys.readouterr().err
    assert path.read_text() == '{"v": 7}'


def test_run_refuses_a_bad_limit(capsys) -> None:
    code = main(["run", "--participant", "p1", "--task", "x", "--epsilon-limit", "-1"])
    assert code != 0
    assert "epsilon_limit" in capsys.readouterr().err
