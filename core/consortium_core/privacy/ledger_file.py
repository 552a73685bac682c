"""The privacy ledger's file: read whole, written atomically, changed under an exclusive lock.

Readers need no lock: a write goes to a temporary file in the same folder, is synced, then
renamed over the ledger (``os.replace``), so a reader sees the old ledger or the new one, never
half of one. Writers serialise on ``<ledger>.lock`` with ``flock``, which also excludes two
writers in one process (the lock belongs to each open file, not to the process). The lock file
is never deleted: deleting it would let a late writer lock a file nobody else is looking at.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "privacy" / "ledger.json"
>>> read_json(path) is None
True
>>> with exclusive_lock(path):
...     write_json(path, {"v": 1})
>>> read_json(path)
{'v': 1}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import CorruptLedgerError, PrivacyLedgerError

__all__ = ["LEFT_AS_IT_IS", "exclusive_lock", "lock_path_of", "read_json", "write_json"]

LEFT_AS_IT_IS = (
    "it was left as it is, because resetting it would forget what this participant has spent: "
    "repair it, or move it aside to start a new ledger on purpose"
)
FILE_MODE = 0o600
DIR_MODE = 0o700


def lock_path_of(path: Path) -> Path:
    """The lock file that guards ``path``.

    >>> lock_path_of(Path("/home/p/privacy/ledger.json"))
    PosixPath('/home/p/privacy/ledger.json.lock')
    """
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the lock of ``path`` (blocking until it is free); creates the folder if needed."""
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(lock_path_of(path), os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise PrivacyLedgerError(f"cannot lock privacy ledger {path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def read_json(path: Path) -> Any:
    """The JSON value in ``path``, or ``None`` when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PrivacyLedgerError(f"cannot read privacy ledger {path}: {exc}") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptLedgerError(
            f"privacy ledger {path} is not valid JSON ({exc}); {LEFT_AS_IT_IS}"
        ) from None


def write_json(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` as indented JSON, atomically and durably.

    Call it while holding :func:`exclusive_lock` of ``path``.
    """
    data = (json.dumps(value, indent=2) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise PrivacyLedgerError(f"cannot write privacy ledger {path}: {exc}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
