"""Cutting a frame into chunks that fit a broker's message limit, and putting it back together.

Pure code: the transport publishes what :func:`split_frame` yields and feeds what it receives to a
:class:`Reassembler`. Each chunk starts with a 32-byte header::

    16 bytes transfer id | u32 index | u32 count | u64 total frame size

>>> chunks = list(split_frame([b"hello ", b"world"], transfer_id=b"t" * 16, chunk_size=36))
>>> [len(c) for c in chunks]
[36, 36, 35]
>>> r = Reassembler()
>>> out = [r.add(c, now=0.0) for c in reversed(chunks)]
>>> out[:2], b''.join(out[2])
([None, None], b'hello world')
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import WireFormatError

__all__ = ["CHUNK_HEADER_SIZE", "Reassembler", "split_frame"]

_HEADER = struct.Struct("<16sIIQ")
CHUNK_HEADER_SIZE = _HEADER.size


def split_frame(
    buffers: Sequence[bytes], *, transfer_id: bytes, chunk_size: int
) -> Iterator[bytes]:
    """Yield chunks of at most ``chunk_size`` bytes (header included) carrying ``buffers``."""
    if len(transfer_id) != 16:
        raise ValueError("transfer_id must be 16 bytes")
    body = chunk_size - CHUNK_HEADER_SIZE
    if body <= 0:
        raise ValueError(f"chunk_size must exceed the {CHUNK_HEADER_SIZE}-byte header")
    total = sum(len(b) for b in buffers)
    count = max(1, -(-total // body))
    views = [memoryview(b) for b in buffers if len(b)]
    index, pending, pending_len = 0, [], 0
    for view in views:
        while len(view):
            take = min(body - pending_len, len(view))
            pending.append(view[:take])
            pending_len += take
            view = view[take:]
            if pending_len == body:
                yield b"".join([_HEADER.pack(transfer_id, index, count, total), *pending])
                index, pending, pending_len = index + 1, [], 0
    if pending_len or index == 0:
        yield b"".join([_HEADER.pack(transfer_id, index, count, total), *pending])


@dataclass
class _Partial:
    total: int
    count: int
    parts: list[memoryview | None]
    received: int = 0
    started: float = 0.0


class Reassembler:
    """Collects chunks of many concurrent transfers; returns each frame once it is complete.

    A complete frame is returned as the list of its chunks' payloads, in order, without joining
    them: :func:`consortium_core.wire.decode_frame` reads across them, so a large frame is copied
    once less. Transfers that stay incomplete longer than ``max_age_s`` (a chunk was lost) are
    dropped by :meth:`drop_stale`, which returns their ids so the caller can log them.
    """

    def __init__(self, *, max_age_s: float = 300.0) -> None:
        self._partials: dict[bytes, _Partial] = {}
        self._max_age_s = max_age_s

    def add(self, chunk: bytes, *, now: float) -> list[memoryview] | None:
        """Add one chunk; return the frame's payload segments when this chunk completes it."""
        if len(chunk) < CHUNK_HEADER_SIZE:
            raise WireFormatError(f"chunk of {len(chunk)} bytes is shorter than its header")
        transfer_id, index, count, total = _HEADER.unpack_from(chunk, 0)
        payload = memoryview(chunk)[CHUNK_HEADER_SIZE:]
        if count == 0 or index >= count:
            raise WireFormatError(f"chunk index {index} out of range for {count} chunks")
        if count == 1:
            if len(payload) != total:
                raise WireFormatError("single-chunk transfer with inconsistent header")
            return [payload]
        partial = self._partials.get(transfer_id)
        if partial is None:
            partial = _Partial(total, count, [None] * count, started=now)
            self._partials[transfer_id] = partial
        if partial.count != count or partial.total != total or partial.parts[index] is not None:
            raise WireFormatError(f"chunk {index} of transfer {transfer_id.hex()} is inconsistent")
        partial.parts[index] = payload
        partial.received += len(payload)
        if all(part is not None for part in partial.parts):
            del self._partials[transfer_id]
            if partial.received != partial.total:
                raise WireFormatError(
                    f"transfer carried {partial.received} bytes, its header says {partial.total}"
                )
            return [part for part in partial.parts if part is not None]
        return None

    def drop_stale(self, *, now: float) -> list[bytes]:
        """Forget transfers older than ``max_age_s``; return their ids."""
        stale = [k for k, p in self._partials.items() if now - p.started > self._max_age_s]
        for key in stale:
            del self._partials[key]
        return stale

    def __len__(self) -> int:
        return len(self._partials)
