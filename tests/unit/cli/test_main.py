"""The command line's contract: ``--json`` anywhere, one-line errors, exit codes 1, 2 and 3."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from consortium_cli.main import build_parser, main

ENVIRONMENT = ("CONSORTIUM_GATEWAY_URL", "CONSORTIUM_TOKEN", "CONSORTIUM_CA_CERT")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No stored session and no variables from whoever runs the tests; no endpoints file."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSORTIUM_CLI_HOME", str(tmp_path / "cli"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["jobs", "list"], False),
        (["jobs", "list", "--json"], True),
        (["--json", "jobs", "list"], True),
        (["audit", "verify", "--json"], True),
    ],
)
def test_json_is_accepted_before_or_after_the_command(argv: list[str], expected: bool) -> None:
    assert build_parser().parse_args(argv).json is expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["jobs"],
        ["jobs", "create"],
        ["jobs", "list", "--limit", "0"],
        ["participants", "revoke", "p1"],
        ["operators", "create", "bob", "--role", "superuser"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_not_logged_in_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whoami"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("consortium: not logged in") and err.count("\n") == 1


def test_a_malformed_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "create", "--task", "t", "--config", "epochs"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_a_missing_password_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["login", "--gateway", "https://127.0.0.1:1", "-u", "ann", "--password-file", "nope"]
    assert main(argv) == 2
    assert "cannot read the password file nope" in capsys.readouterr().err


def test_an_unreachable_gateway_exits_3_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONSORTIUM_GATEWAY_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("CONSORTIUM_TOKEN", "anything")
    assert main(["jobs", "list"]) == 3
    err = capsys.readouterr().err
    assert "cannot reach the gateway" in err and "make up" in err and "Traceback" not in err


def test_logout_without_a_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logout"]) == 0
    assert "not logged in" in capsys.readouterr().out
