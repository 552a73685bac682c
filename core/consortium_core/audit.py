"""The hash chain of the audit log: canonical form of an entry, its hash, and chain verification.

Pure: no I/O. The registry stores entries in Postgres; anyone holding an export (JSON lines)
can verify it with :func:`verify_chain`. Each entry's hash covers its sequence number, time,
kind, actor, data and the previous entry's hash, so editing, inserting, reordering or deleting
any entry before the last one breaks the chain at that entry. (Cutting entries off the end is
not detectable from the chain alone: compare the head hash with one recorded elsewhere.)

>>> from datetime import UTC, datetime
>>> at = datetime(2026, 1, 1, tzinfo=UTC)
>>> h1 = entry_hash(prev_hash=GENESIS, seq=1, at=at, kind="enrolled", actor="a", data={"x": 1})
>>> len(h1)
64
>>> e1 = AuditEntry(seq=1, at=at, kind="enrolled", actor="a", data={"x": 1},
...                 prev_hash=GENESIS, hash=h1)
>>> verify_chain([e1])
VerificationResult(ok=True, checked=1, first_broken_seq=None, reason='')
>>> forged = AuditEntry(seq=1, at=at, kind="enrolled", actor="a", data={"x": 2},
...                     prev_hash=GENESIS, hash=h1)
>>> verify_chain([forged]).first_broken_seq
1
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "GENESIS",
    "AuditEntry",
    "VerificationResult",
    "canonical_json",
    "canonical_time",
    "entry_hash",
    "verify_chain",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry of a chain."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, ASCII only, floats as ``repr``; NaN and Inf refused.

    >>> canonical_json({"b": 1.5, "a": [True, None, "é"]})
    '{"a":[true,null,"\\\\u00e9"],"b":1.5}'
    >>> canonical_json({"x": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant...
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def canonical_time(at: datetime | str) -> str:
    """A time as ISO 8601 in UTC with microseconds and a ``Z`` (naive times are refused).

    >>> canonical_time("2026-01-01T01:00:00+01:00")
    '2026-01-01T00:00:00.000000Z'
    """
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        raise ValueError(f"audit time {at!r} has no time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *, prev_hash: str, seq: int, at: datetime | str, kind: str, actor: str, data: Any
) -> str:
    """Hex SHA-256 of the canonical JSON of an entry (everything but its own hash)."""
    body = {
        "actor": actor,
        "at": canonical_time(at),
        "data": data,
        "kind": kind,
        "prev_hash": prev_hash,
        "seq": seq,
    }
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the log as stored or exported."""

    seq: int
    at: datetime | str
    kind: str
    actor: str
    data: Any
    prev_hash: str
    hash: str

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> AuditEntry:
        """An entry from a dict such as one line of an export."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def to_mapping(self) -> dict[str, Any]:
        """A JSON-ready dict (the time in canonical form), the inverse of :meth:`from_mapping`."""
        return {
            "seq": self.seq,
            "at": canonical_time(self.at),
            "kind": self.kind,
            "actor": self.actor,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerificationResult:
    """What :func:`verify_chain` found: ``first_broken_seq`` is ``None`` when ``ok``."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = field(default="")


def verify_chain(
    entries: Iterable[AuditEntry], *, prev_hash: str = GENESIS, first_seq: int = 1
) -> VerificationResult:
    """Recompute every hash and link, in order; name the first entry that does not fit.

    ``prev_hash`` and ``first_seq`` let a caller verify a chain that continues an earlier
    verified part. Sequence numbers must follow one another without gaps.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def make(seq, prev):
    ...     h = entry_hash(prev_hash=prev, seq=seq, at=at, kind="k", actor="a", data=None)
    ...     return AuditEntry(seq, at, "k", "a", None, prev, h)
    >>> one = make(1, GENESIS); two = make(2, one.hash); three = make(3, two.hash)
    >>> verify_chain([one, two, three]).ok
    True
    >>> verify_chain([one, three])
    VerificationResult(ok=False, checked=2, first_broken_seq=3, reason='expected seq 2, found 3')
    """
    expected_prev, expected_seq, checked = prev_hash, first_seq, 0
    for entry in entries:
        checked += 1
        if entry.seq != expected_seq:
            reason = f"expected seq {expected_seq}, found {entry.seq}"
            return VerificationResult(False, checked, entry.seq, reason)
        if entry.prev_hash != expected_prev:
            reason = "prev_hash does not match the hash of the entry before it"
            return VerificationResult(False, checked, entry.seq, reason)
        try:
            recomputed = entry_hash(
                prev_hash=entry.prev_hash,
                seq=entry.seq,
                at=entry.at,
                kind=entry.kind,
                actor=entry.actor,
                data=entry.data,
            )
        except (TypeError, ValueError) as exc:
            return VerificationResult(False, checked, entry.seq, f"entry cannot be hashed: {exc}")
        if recomputed != entry.hash:
            reason = "hash does not match the entry's content (the entry was altered)"
            return VerificationResult(False, checked, entry.seq, reason)
        expected_prev, expected_seq = entry.hash, entry.seq + 1
    return VerificationResult(True, checked)
