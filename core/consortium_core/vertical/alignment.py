"""How parties that found the same customers by private set intersection agree on rows.

Every party sorts its aligned IDs the same way, so row *i* is the same customer everywhere;
the coordinator only ever names rows by position. The test split is a keyed hash of each ID,
so every party computes the same split without exchanging anything.

>>> aligned_order(["c-10", "c-2", "c-1"])
['c-1', 'c-10', 'c-2']
>>> held_out_mask(["a", "b", "c", "d"], salt="job-1", test_fraction=0.0).tolist()
[False, False, False, False]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["aligned_order", "held_out_mask"]

_HASH_SPACE = 2**64


def aligned_order(ids: Iterable[str]) -> list[str]:
    """The shared row order: the IDs sorted as text (duplicates are the caller's error)."""
    return sorted(ids)


def held_out_mask(ids: Sequence[str], *, salt: str, test_fraction: float) -> np.ndarray:
    """A boolean mask of the rows kept for testing: a row is held out when the SHA-256 of
    ``salt`` and its ID falls in the first ``test_fraction`` of the hash space.

    >>> mask = held_out_mask([f"id-{i}" for i in range(10_000)], salt="s", test_fraction=0.2)
    >>> bool(0.18 < mask.mean() < 0.22)
    True
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test-fraction must be in [0, 1), got {test_fraction!r}")
    cut = int(test_fraction * _HASH_SPACE)
    salted = salt.encode() + b"\x00"
    return np.fromiter(
        (
            int.from_bytes(hashlib.sha256(salted + i.encode()).digest()[:8], "big") < cut
            for i in ids
        ),
        dtype=bool,
        count=len(ids),
    )
