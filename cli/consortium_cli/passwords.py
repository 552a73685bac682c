"""Passwords: read from a file (first line) or asked for without echo, never from an argument."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from .errors import UsageError

__all__ = ["ask_password", "read_password_file"]


def read_password_file(path: Path) -> str:
    """The first line of ``path``, without its line ending."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the password file {path}: {exc.strerror or exc}") from exc
    password = text.splitlines()[0] if text else ""
    if not password:
        raise UsageError(f"the password file {path} is empty")
    return password


def ask_password(prompt: str, *, confirm: bool = False) -> str:
    """Ask on the terminal without echo; from piped stdin, read one line."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password: pass --password-file FILE, or run in a terminal")
        return password
    try:
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ")
    except EOFError as exc:
        raise UsageError("no password given") from exc
    if not password:
        raise UsageError("no password given")
    return password
