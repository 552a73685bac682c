"""The stored login: one JSON file, readable by its owner only (mode 0600, folder 0700).

>>> s = Session(gateway_url="https://gw:8443", ca_cert=None, token="t", username="ann",
...             role="admin", expires_at="2030-01-01T00:00:00Z")
>>> s.expired(now=datetime(2031, 1, 1, tzinfo=UTC)), s.expired(now=datetime(2029, 1, 1, tzinfo=UTC))
(True, False)
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import SessionExpired

__all__ = ["Session", "delete_session", "load_session", "parse_time", "save_session"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); None if unreadable."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Session:
    """Who is logged in, where, and until when."""

    gateway_url: str
    ca_cert: str | None
    token: str
    username: str
    role: str
    expires_at: str

    def expired(self, *, now: datetime | None = None) -> bool:
        """Whether the token is past its expiry (an unreadable expiry counts as expired)."""
        expiry = parse_time(self.expires_at)
        return expiry is None or expiry <= (now or datetime.now(UTC))


def load_session(path: Path) -> Session | None:
    """The stored session, or None when there is none; a damaged file means logging in again."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Session(
            gateway_url=str(raw["gateway_url"]),
            ca_cert=str(raw["ca_cert"]) if raw.get("ca_cert") else None,
            token=str(raw["token"]),
            username=str(raw["username"]),
            role=str(raw["role"]),
            expires_at=str(raw["expires_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SessionExpired(
            f"the stored session in {path} cannot be read ({exc}); log in again: consortium login"
        ) from exc


def save_session(path: Path, session: Session) -> None:
    """Write the session atomically, readable and writable by its owner only."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".session-", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(asdict(session), file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def delete_session(path: Path) -> bool:
    """Forget the stored session; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
