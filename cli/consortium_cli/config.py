"""Where the CLI's settings come from, decided in one place; the only reader of the environment.

For every command but ``login``: ``CONSORTIUM_GATEWAY_URL``, ``CONSORTIUM_CA_CERT`` and
``CONSORTIUM_TOKEN`` override the stored session, field by field. A stored token is sent only to
the gateway it was issued by. ``login`` takes its flags first, then the environment, then
``--endpoints`` (``var/run/endpoints.json`` when it exists here), then the stored session.

>>> normalize_gateway_url("127.0.0.1:8443/api/v1/")
'https://127.0.0.1:8443'
>>> api_url("https://gw.example")
'https://gw.example/api/v1'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from .errors import NotLoggedIn, SessionExpired, UsageError
from .session import Session

__all__ = [
    "DEFAULT_ENDPOINTS",
    "Connection",
    "Endpoints",
    "Environment",
    "LoginTarget",
    "api_url",
    "load_endpoints",
    "normalize_gateway_url",
    "resolve_connection",
    "resolve_login",
]

DEFAULT_ENDPOINTS = Path("var/run/endpoints.json")
"""What ``make up`` writes, relative to the repository root (used when it exists here)."""
SESSION_FILE = "session.json"
LOGIN_HINT = "log in again: consortium login"


@dataclass(frozen=True)
class Environment:
    """The environment variables the CLI reads, read once."""

    gateway_url: str | None = None
    token: str | None = None
    ca_cert: str | None = None
    cli_home: str | None = None
    config_home: str | None = None
    home: str | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """From ``environ`` (``os.environ`` by default); empty values count as unset."""
        source = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return source.get(name) or None

        return cls(
            gateway_url=get("CONSORTIUM_GATEWAY_URL"),
            token=get("CONSORTIUM_TOKEN"),
            ca_cert=get("CONSORTIUM_CA_CERT"),
            cli_home=get("CONSORTIUM_CLI_HOME"),
            config_home=get("XDG_CONFIG_HOME"),
            home=get("HOME"),
        )

    @property
    def session_file(self) -> Path:
        """``$CONSORTIUM_CLI_HOME/session.json``, else ``~/.config/consortium/session.json``."""
        if self.cli_home:
            return Path(self.cli_home).expanduser() / SESSION_FILE
        config = Path(self.config_home) if self.config_home else None
        if config is None:
            config = (Path(self.home) if self.home else Path.home()) / ".config"
        return config / "consortium" / SESSION_FILE


def normalize_gateway_url(url: str) -> str:
    """``scheme://host[:port]`` of a gateway given with or without scheme, slash or ``/api/v1``."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a gateway URL: {url!r} (expected https://host[:port])")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UsageError(f"not a gateway URL: {url!r} ({exc})") from exc
    path = parts.path.rstrip("/").removesuffix("/api/v1").rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def api_url(gateway_url: str) -> str:
    """The gateway's API root, ``<gateway>/api/v1``."""
    return f"{normalize_gateway_url(gateway_url)}/api/v1"


@dataclass(frozen=True)
class Endpoints:
    """What ``var/run/endpoints.json`` says about the gateway and the first operator."""

    gateway_url: str | None
    ca_cert: Path | None
    username: str | None
    password_file: Path | None


def load_endpoints(path: Path) -> Endpoints:
    """Read an endpoints file; its relative paths are relative to the repository root."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the endpoints file {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"the endpoints file {path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError(f"the endpoints file {path} is not a JSON object")
    resolved = path.resolve()
    in_var_run = resolved.parent.name == "run" and resolved.parent.parent.name == "var"
    root = resolved.parents[2] if in_var_run else resolved.parent

    def local(value: object) -> Path | None:
        if not value:
            return None
        candidate = Path(str(value)).expanduser()
        return candidate if candidate.is_absolute() else root / candidate

    operator = raw.get("operator")
    if not isinstance(operator, dict):
        operator = {}
    return Endpoints(
        gateway_url=str(raw["gateway_url"]) if raw.get("gateway_url") else None,
        ca_cert=local(raw.get("ca_cert")),
        username=str(operator["username"]) if operator.get("username") else None,
        password_file=local(operator.get("password_file")),
    )


@dataclass(frozen=True)
class Connection:
    """Where to send requests, whom to trust, and the bearer token to send."""

    gateway_url: str
    ca_cert: str | None
    token: str | None


def resolve_connection(
    env: Environment,
    session: Session | None,
    *,
    now: datetime | None = None,
    need_token: bool = True,
) -> Connection:
    """The environment over the stored session; the stored token only for its own gateway."""
    stored_gateway = normalize_gateway_url(session.gateway_url) if session else None
    if env.gateway_url:
        gateway = normalize_gateway_url(env.gateway_url)
    elif stored_gateway:
        gateway = stored_gateway
    else:
        raise NotLoggedIn(
            "not logged in: run `consortium login` (or set CONSORTIUM_GATEWAY_URL "
            "and CONSORTIUM_TOKEN)"
        )
    same_gateway = session is not None and stored_gateway == gateway
    ca_cert = env.ca_cert or (session.ca_cert if session and same_gateway else None)
    token = env.token
    if token is None and session is not None and same_gateway:
        if session.expired(now=now):
            raise SessionExpired(
                f"the session of {session.username!r} expired at {session.expires_at}; {LOGIN_HINT}"
            )
        token = session.token
    if token is None and need_token:
        raise NotLoggedIn(f"not logged in at {gateway}: run `consortium login --gateway {gateway}`")
    return Connection(gateway_url=gateway, ca_cert=ca_cert, token=token)


@dataclass(frozen=True)
class LoginTarget:
    """Where to log in, as whom, and where the password is (None: ask for it)."""

    gateway_url: str
    ca_cert: str | None
    username: str | None
    password_file: Path | None


def resolve_login(
    env: Environment,
    *,
    gateway: str | None,
    ca_cert: str | None,
    username: str | None,
    password_file: Path | None,
    endpoints: Endpoints | None,
    session: Session | None,
) -> LoginTarget:
    """Flags, then the environment, then the endpoints file, then the stored session.

    The endpoints file's password file belongs to its operator, so it is used only when logging
    in as that operator."""
    known = endpoints or Endpoints(None, None, None, None)
    url = gateway or env.gateway_url or known.gateway_url or (session and session.gateway_url)
    if not url:
        raise UsageError(
            "which gateway? Pass --gateway URL, or --endpoints var/run/endpoints.json "
            "(written by `make up`)"
        )
    normalized = normalize_gateway_url(url)
    same_as_stored = session is not None and normalize_gateway_url(session.gateway_url) == (
        normalized
    )
    ca = (
        ca_cert
        or env.ca_cert
        or (str(known.ca_cert) if known.ca_cert else None)
        or (session.ca_cert if session and same_as_stored else None)
    )
    user = username or known.username or (session.username if same_as_stored and session else None)
    secret = password_file
    if secret is None and known.password_file and user == known.username:
        secret = known.password_file
    if ca:
        ca = str(Path(ca).expanduser().resolve())
    return LoginTarget(gateway_url=normalized, ca_cert=ca, username=user, password_file=secret)
