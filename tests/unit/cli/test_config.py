"""Where settings come from: the environment over the stored session, flags first for login."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from consortium_cli.config import (
    Endpoints,
    Environment,
    LoginTarget,
    load_endpoints,
    normalize_gateway_url,
    resolve_connection,
    resolve_login,
)
from consortium_cli.errors import NotLoggedIn, SessionExpired, UsageError
from consortium_cli.session import Session

NOW = datetime(2029, 6, 1, tzinfo=UTC)
STORED = Session(
    gateway_url="https://gw.example:8443",
    ca_cert="/stored/ca.crt",
    token="stored-token",
    username="ann",
    role="admin",
    expires_at="2030-01-01T00:00:00Z",
)


def test_environment_is_read_once_and_empty_values_are_unset() -> None:
    env = Environment.read(
        {"CONSORTIUM_GATEWAY_URL": "https://a", "CONSORTIUM_TOKEN": "", "HOME": "/home/x"}
    )
    assert env.gateway_url == "https://a" and env.token is None


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"CONSORTIUM_CLI_HOME": "/cli", "XDG_CONFIG_HOME": "/xdg"}, "/cli/session.json"),
        ({"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}, "/xdg/consortium/session.json"),
        ({"HOME": "/h"}, "/h/.config/consortium/session.json"),
    ],
)
def test_session_file_location(variables: dict[str, str], expected: str) -> None:
    assert Environment.read(variables).session_file == Path(expected)


def test_the_stored_session_alone() -> None:
    connection = resolve_connection(Environment(), STORED, now=NOW)
    assert (connection.gateway_url, connection.ca_cert, connection.token) == (
        "https://gw.example:8443",
        "/stored/ca.crt",
        "stored-token",
    )


def test_each_variable_overrides_its_own_field() -> None:
    env = Environment(ca_cert="/env/ca.crt")
    assert resolve_connection(env, STORED, now=NOW).ca_cert == "/env/ca.crt"
    env = Environment(token="env-token")
    connection = resolve_connection(env, STORED, now=NOW)
    assert (connection.gateway_url, connection.token) == ("https://gw.example:8443", "env-token")
    env = Environment(gateway_url="https://gw.example:8443/api/v1/")
    assert resolve_connection(env, STORED, now=NOW).token == "stored-token"


def test_the_environment_alone_needs_no_session() -> None:
    env = Environment(gateway_url="gw2:9000", token="t", ca_cert="/ca.pem")
    connection = resolve_connection(env, None, now=NOW)
    assert (connection.gateway_url, connection.ca_cert, connection.token) == (
        "https://gw2:9000",
        "/ca.pem",
        "t",
    )


def test_a_stored_token_is_never_sent_to_another_gateway() -> None:
    env = Environment(gateway_url="https://elsewhere:8443")
    with pytest.raises(NotLoggedIn, match="elsewhere"):
        resolve_connection(env, STORED, now=NOW)
    connection = resolve_connection(env, STORED, now=NOW, need_token=False)
    assert connection.token is None and connection.ca_cert is None


def test_nothing_at_all_is_not_logged_in() -> None:
    with pytest.raises(NotLoggedIn, match="consortium login"):
        resolve_connection(Environment(), None, now=NOW)


def test_an_expired_session_says_log_in_again_unless_a_token_is_given() -> None:
    later = datetime(2031, 1, 1, tzinfo=UTC)
    with pytest.raises(SessionExpired, match=r"expired.*log in again"):
        resolve_connection(Environment(), STORED, now=later)
    assert resolve_connection(Environment(token="fresh"), STORED, now=later).token == "fresh"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://gw:8443", "https://gw:8443"),
        ("https://gw:8443/", "https://gw:8443"),
        ("https://gw:8443/api/v1", "https://gw:8443"),
        ("http://127.0.0.1:8000/prefix/api/v1/", "http://127.0.0.1:8000/prefix"),
        ("gw.example", "https://gw.example"),
    ],
)
def test_gateway_urls_are_normalized(given: str, expected: str) -> None:
    assert normalize_gateway_url(given) == expected


@pytest.mark.parametrize("bad", ["ftp://gw", "https://", "https://gw:port"])
def test_bad_gateway_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        normalize_gateway_url(bad)
    assert caught.value.exit_code == 2


def _endpoints_file(root: Path, **overrides: object) -> Path:
    path = root / "var" / "run" / "endpoints.json"
    path.parent.mkdir(parents=True)
    content = {
        "gateway_url": "https://127.0.0.1:8443",
        "ca_cert": "var/pki/ca.crt",
        "operator": {"username": "admin", "password_file": "var/run/operator.password"},
        **overrides,
    }
    path.write_text(json.dumps(content))
    return path


def test_endpoints_paths_are_relative_to_the_repository(tmp_path: Path) -> None:
    endpoints = load_endpoints(_endpoints_file(tmp_path))
    assert endpoints == Endpoints(
        gateway_url="https://127.0.0.1:8443",
        ca_cert=tmp_path.resolve() / "var/pki/ca.crt",
        username="admin",
        password_file=tmp_path.resolve() / "var/run/operator.password",
    )


@pytest.mark.parametrize("content", ["{", "[]"])
def test_a_broken_endpoints_file_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(content)
    with pytest.raises(UsageError, match="endpoints file"):
        load_endpoints(path)


ENDPOINTS = Endpoints(
    gateway_url="https://from-endpoints:1",
    ca_cert=Path("/repo/var/pki/ca.crt"),
    username="admin",
    password_file=Path("/repo/var/run/operator.password"),
)


def _login(env: Environment | None = None, **flags: object) -> LoginTarget:
    options: dict[str, object] = {
        "gateway": None,
        "ca_cert": None,
        "username": None,
        "password_file": None,
        "endpoints": ENDPOINTS,
        "session": None,
        **flags,
    }
    return resolve_login(env or Environment(), **options)  # type: ignore[arg-type]


def test_login_takes_everything_from_the_endpoints_file() -> None:
    target = _login()
    assert target.gateway_url == "https://from-endpoints:1"
    assert target.ca_cert == "/repo/var/pki/ca.crt"
    assert (target.username, target.password_file) == ("admin", ENDPOINTS.password_file)


def test_login_flags_beat_the_environment_which_beats_the_endpoints_file() -> None:
    env = Environment(gateway_url="https://from-env:2", ca_cert="/env/ca.crt")
    target = _login(env)
    assert (target.gateway_url, target.ca_cert) == ("https://from-env:2", "/env/ca.crt")
    target = _login(env, gateway="https://from-flag:3", ca_cert="/flag/ca.crt")
    assert (target.gateway_url, target.ca_cert) == ("https://from-flag:3", "/flag/ca.crt")


def test_the_endpoints_password_is_only_for_its_own_operator() -> None:
    target = _login(username="bob")
    assert (target.username, target.password_file) == ("bob", None)
    target = _login(username="bob", password_file=Path("/bob.pw"))
    assert target.password_file == Path("/bob.pw")


def test_login_again_reuses_the_stored_gateway_and_operator() -> None:
    target = _login(endpoints=None, session=STORED)
    assert (target.gateway_url, target.ca_cert, target.username) == (
        "https://gw.example:8443",
        "/stored/ca.crt",
        "ann",
    )


def test_login_without_any_gateway_says_how_to_give_one() -> None:
    with pytest.raises(UsageError, match="--gateway"):
        _login(endpoints=None)
