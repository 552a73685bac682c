"""The audit hash chain: canonical form, hashes, and verification naming the first bad entry."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from consortium_core.audit import (
    GENESIS,
    AuditEntry,
    canonical_json,
    canonical_time,
    entry_hash,
    verify_chain,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        data = {"n": seq, "ratio": seq / 3, "who": ["a", "b"]}
        digest = entry_hash(prev_hash=prev, seq=seq, at=at, kind="k", actor="op", data=data)
        entries.append(AuditEntry(seq, at, "k", "op", data, prev, digest))
        prev = digest
    return entries


def test_canonical_json_is_independent_of_key_order_and_spacing() -> None:
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'
    assert canonical_json({"x": 0.1}) == '{"x":0.1}'
    assert canonical_json({"x": 1e300}) == '{"x":1e+300}'


def test_canonical_json_refuses_nan_and_infinity() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            canonical_json({"x": bad})


def test_canonical_time_is_utc_with_microseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert canonical_time(datetime(2026, 1, 1, 2, tzinfo=plus_two)) == "2026-01-01T00:00:00.000000Z"
    assert canonical_time("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(ValueError, match="time zone"):
        canonical_time(datetime(2026, 1, 1))


def test_hash_covers_every_field() -> None:
    base = {"prev_hash": GENESIS, "seq": 1, "at": T0, "kind": "k", "actor": "a", "data": {"x": 1}}
    reference = entry_hash(**base)  # type: ignore[arg-type]
    changes = {
        "prev_hash": "1" * 64,
        "seq": 2,
        "at": T0 + timedelta(microseconds=1),
        "kind": "k2",
        "actor": "b",
        "data": {"x": 2},
    }
    for name, value in changes.items():
        assert entry_hash(**{**base, name: value}) != reference, name  # type: ignore[arg-type]


def test_a_genuine_chain_verifies() -> None:
    result = verify_chain(chain(5))
    assert (result.ok, result.checked, result.first_broken_seq) == (True, 5, None)
    assert verify_chain([]).ok


def test_editing_an_entry_names_it() -> None:
    entries = chain(5)
    entries[2] = replace(entries[2], data={"n": 3, "ratio": 1.0, "who": ["a"]})
    result = verify_chain(entries)
    assert not result.ok and result.first_broken_seq == 3 and "altered" in result.reason


def test_rehashing_an_edited_entry_breaks_the_next_link() -> None:
    entries = chain(5)
    edited = replace(entries[1], actor="mallory")
    rehashed = entry_hash(
        prev_hash=edited.prev_hash,
        seq=edited.seq,
        at=edited.at,
        kind=edited.kind,
        actor=edited.actor,
        data=edited.data,
    )
    entries[1] = replace(edited, hash=rehashed)
    result = verify_chain(entries)
    assert result.first_broken_seq == 3 and "prev_hash" in result.reason


def test_deleting_or_reordering_entries_is_detected() -> None:
    entries = chain(4)
    assert verify_chain([entries[0], entries[2], entries[3]]).first_broken_seq == 3
    assert verify_chain([entries[1], entries[0]]).first_broken_seq == 2


def test_verification_continues_from_a_verified_prefix() -> None:
    entries = chain(6)
    head = verify_chain(entries[:3])
    tail = verify_chain(entries[3:], prev_hash=entries[2].hash, first_seq=4)
    assert head.ok and tail.ok and tail.checked == 3


def test_an_exported_line_round_trips() -> None:
    entries = chain(3)
    lines = [canonical_json(e.to_mapping()) for e in entries]
    parsed = [AuditEntry.from_mapping(json.loads(line)) for line in lines]
    assert verify_chain(parsed).ok
