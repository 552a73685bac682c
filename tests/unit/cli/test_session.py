"""The stored login: owner-only permissions, atomic writes, a damaged file means log in again."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from consortium_cli.errors import SessionExpired
from consortium_cli.session import Session, delete_session, load_session, save_session

SESSION = Session(
    gateway_url="https://127.0.0.1:8443",
    ca_cert="/repo/var/pki/ca.crt",
    token="v1.secret-token",
    username="admin",
    role="admin",
    expires_at="2030-01-01T00:00:00Z",
)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable, to show the session ignores it."""
    previous = os.umask(0o000)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_session_is_readable_by_its_owner_only(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "home" / "consortium" / "session.json"
    save_session(path, SESSION)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert load_session(path) == SESSION


def test_overwriting_keeps_the_mode_and_leaves_no_temporary_files(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "session.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_session(path, SESSION)
    save_session(path, SESSION)
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]


def test_no_file_is_no_session_and_logout_says_whether_there_was_one(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    assert load_session(path) is None
    assert delete_session(path) is False
    save_session(path, SESSION)
    assert delete_session(path) is True
    assert not path.exists()


@pytest.mark.parametrize("content", ["not json", "[]", '{"gateway_url": "x"}'])
def test_a_damaged_file_asks_to_log_in_again(tmp_path: Path, content: str) -> None:
    path = tmp_path / "session.json"
    path.write_text(content)
    with pytest.raises(SessionExpired, match="log in again"):
        load_session(path)


def test_expiry() -> None:
    assert not SESSION.expired(now=datetime(2029, 12, 31, tzinfo=UTC))
    assert SESSION.expired(now=datetime(2030, 1, 1, tzinfo=UTC))
    unreadable = Session(**{**SESSION.__dict__, "expires_at": "whenever"})
    assert unreadable.expired()
