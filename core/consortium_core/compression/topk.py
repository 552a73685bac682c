"""Top-k sparsification: keep the ``k`` largest-magnitude values of a tensor.

A tensor of ``n`` values is sent as ``k`` int32 indices (into the flattened tensor, sorted)
and ``k`` float32 values, ``8k`` bytes; with ``fraction`` = 0.01 that is 50x smaller than
float32. What is dropped is lost unless the sender keeps it for later
(:mod:`consortium_core.compression.feedback`).

>>> import numpy as np
>>> x = np.array([[0.1, -3.0], [2.0, 0.0]], dtype=np.float32)
>>> code = sparsify_topk(values=x, k=2)
>>> code.indices.tolist(), code.values.tolist()
([1, 2], [-3.0, 2.0])
>>> densify_topk(code=code).tolist()
[[0.0, -3.0], [2.0, 0.0]]
>>> count_for(size=1000, fraction=0.01)
10
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CompressedPayloadError, CompressionError

__all__ = ["TopKCode", "count_for", "densify_topk", "sparsify_topk"]


@dataclass(frozen=True)
class TopKCode:
    """A sparse tensor: int32 indices into its flattened form, float32 values, its shape."""

    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]


def count_for(*, size: int, fraction: float) -> int:
    """How many values ``fraction`` keeps of ``size``: at least one of a non-empty tensor."""
    if not 0 < fraction <= 1:
        raise CompressionError(f"top-k fraction must be in (0, 1], got {fraction}")
    return min(size, max(1, math.ceil(fraction * size))) if size else 0


def sparsify_topk(*, values: np.ndarray, k: int) -> TopKCode:
    """Keep exactly ``min(k, values.size)`` entries of largest magnitude (ties: any of them)."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    if not np.isfinite(flat).all():
        raise CompressionError("cannot sparsify NaN or Inf values")
    if flat.size >= 2**31:
        raise CompressionError(f"a tensor of {flat.size} values does not fit int32 indices")
    k = max(0, min(int(k), flat.size))
    if k == flat.size:
        indices = np.arange(flat.size)
    else:
        indices = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k :])
    return TopKCode(
        indices=indices.astype(np.int32),
        values=flat[indices],
        shape=tuple(int(d) for d in np.shape(values)),
    )


def densify_topk(*, code: TopKCode) -> np.ndarray:
    """The dense float32 tensor (zeros where nothing was kept); :class:`CompressedPayloadError`
    on wrong dtypes, lengths, out-of-range or repeated indices."""
    n = math.prod(code.shape)
    for name, part, dtype in (("indices", code.indices, np.int32), ("values", code.values, None)):
        if not isinstance(part, np.ndarray) or part.ndim != 1:
            raise CompressedPayloadError(f"top-k {name} must be a 1-d array")
        if dtype is not None and part.dtype != dtype:
            raise CompressedPayloadError(f"top-k {name} must be int32, got {part.dtype}")
    if code.values.dtype != np.float32:
        raise CompressedPayloadError(f"top-k values must be float32, got {code.values.dtype}")
    if code.indices.size != code.values.size or code.indices.size > n:
        raise CompressedPayloadError(
            f"top-k has {code.indices.size} indices and {code.values.size} values "
            f"for a tensor of {n}"
        )
    if code.indices.size and (code.indices.min() < 0 or code.indices.max() >= n):
        raise CompressedPayloadError(f"top-k index out of range for a tensor of {n} values")
    if np.unique(code.indices).size != code.indices.size:
        raise CompressedPayloadError("top-k indices repeat")
    if not np.isfinite(code.values).all():
        raise CompressedPayloadError("top-k values hold NaN or Inf")
    dense = np.zeros(n, dtype=np.float32)
    dense[code.indices] = code.values
    return dense.reshape(code.shape)
