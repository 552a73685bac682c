"""Chunking: every size, any order, lost and repeated chunks."""

from __future__ import annotations

import random

import pytest
from consortium_core.chunking import CHUNK_HEADER_SIZE, Reassembler, split_frame
from consortium_core.errors import WireFormatError


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000, 12345])
@pytest.mark.parametrize("chunk_size", [CHUNK_HEADER_SIZE + 1, 64, 100, 4096])
def test_split_and_reassemble_any_order(size: int, chunk_size: int) -> None:
    rng = random.Random(size * 31 + chunk_size)
    data = bytes(rng.randrange(256) for _ in range(size))
    pieces = [data[: size // 3], data[size // 3 : size // 2], data[size // 2 :]]
    chunks = list(split_frame(pieces, transfer_id=bytes(16), chunk_size=chunk_size))
    assert all(len(c) <= chunk_size for c in chunks)
    rng.shuffle(chunks)
    reassembler = Reassembler()
    out = [reassembler.add(c, now=0.0) for c in chunks]
    assert all(o is None for o in out[:-1])
    assert b"".join(out[-1] or []) == data
    assert len(reassembler) == 0


def test_interleaved_transfers() -> None:
    a = list(split_frame([b"a" * 500], transfer_id=b"A" * 16, chunk_size=100))
    b = list(split_frame([b"b" * 300], transfer_id=b"B" * 16, chunk_size=100))
    reassembler = Reassembler()
    done = [
        r
        for c in [x for pair in zip(a, b, strict=False) for x in pair] + a[len(b) :]
        if (r := reassembler.add(c, now=0.0)) is not None
    ]
    assert sorted(b"".join(d) for d in done) == [b"a" * 500, b"b" * 300]


def test_lost_chunk_is_dropped_as_stale() -> None:
    chunks = list(split_frame([b"x" * 1000], transfer_id=b"L" * 16, chunk_size=100))
    reassembler = Reassembler(max_age_s=10)
    for c in chunks[:-1]:
        assert reassembler.add(c, now=0.0) is None
    assert reassembler.drop_stale(now=5.0) == []
    assert reassembler.drop_stale(now=11.0) == [b"L" * 16]
    assert len(reassembler) == 0


def test_repeated_and_malformed_chunks_are_refused() -> None:
    chunks = list(split_frame([b"x" * 1000], transfer_id=b"R" * 16, chunk_size=100))
    reassembler = Reassembler()
    reassembler.add(chunks[0], now=0.0)
    with pytest.raises(WireFormatError):
        reassembler.add(chunks[0], now=0.0)
    with pytest.raises(WireFormatError):
        reassembler.add(b"short", now=0.0)


def test_chunk_size_must_exceed_header() -> None:
    with pytest.raises(ValueError, match="header"):
        list(split_frame([b"x"], transfer_id=bytes(16), chunk_size=CHUNK_HEADER_SIZE))
