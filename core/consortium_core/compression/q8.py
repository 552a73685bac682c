"""8-bit affine quantization, per block of values.

Each block of ``block_size`` consecutive values (in C order) gets its own ``offset`` (the
block's minimum) and ``scale`` (its range / 255); a value is sent as the uint8 code
``round((x - offset) / scale)``. Decoding gives ``offset + code * scale``: the error is at most
``scale / 2`` with round-to-nearest, and below ``scale`` with stochastic rounding, which is
unbiased (``E[decoded] = x``). A payload is ``n`` bytes plus 8 bytes per block: about 4x smaller
than float32 for blocks of 4,096.

>>> import numpy as np
>>> x = np.linspace(-1.0, 1.0, 10, dtype=np.float32)
>>> code = quantize_q8(values=x, block_size=4)
>>> code.codes.dtype, code.scale.shape, code.offset.shape
(dtype('uint8'), (3,), (3,))
>>> bool(np.abs(dequantize_q8(code=code) - x).max() <= code.scale.max() / 2 + 1e-7)
True
>>> dequantize_q8(code=Q8Code(codes=np.zeros(3, np.uint8), scale=np.ones(1, np.float32),
...     offset=np.zeros(1, np.float32), shape=(4,), block_size=4))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
consortium_core.compression.errors.CompressedPayloadError: q8 codes hold 3 values, shape (4,) ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CompressedPayloadError, CompressionError

__all__ = ["DEFAULT_BLOCK_SIZE", "Q8Code", "dequantize_q8", "quantize_q8"]

DEFAULT_BLOCK_SIZE = 4096
LEVELS = 255


@dataclass(frozen=True)
class Q8Code:
    """A quantized tensor: uint8 codes (flat), one float32 scale and offset per block."""

    codes: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    shape: tuple[int, ...]
    block_size: int


def quantize_q8(
    *,
    values: np.ndarray,
    block_size: int = DEFAULT_BLOCK_SIZE,
    rng: np.random.Generator | None = None,
) -> Q8Code:
    """Quantize ``values`` to 8 bits per value; stochastic (unbiased) rounding when ``rng``
    is given, round-to-nearest otherwise. Raises :class:`CompressionError` on NaN or Inf."""
    if block_size < 1:
        raise CompressionError(f"block size must be >= 1, got {block_size}")
    flat = np.asarray(values, dtype=np.float32).ravel()
    if not np.isfinite(flat).all():
        raise CompressionError("cannot quantize NaN or Inf values")
    n = flat.size
    blocks = math.ceil(n / block_size)
    padded = np.pad(flat, (0, blocks * block_size - n), mode="edge") if n else flat
    grid = padded.reshape(blocks, block_size) if n else padded.reshape(0, block_size)
    offset = grid.min(axis=1) if n else np.zeros(0, np.float32)
    span = (grid.max(axis=1) - offset) if n else np.zeros(0, np.float32)
    scale = (span / LEVELS).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    levels = (grid - offset[:, None]) / safe[:, None]
    if rng is None:
        rounded = np.rint(levels)
    else:
        rounded = np.floor(levels + rng.random(levels.shape, dtype=np.float32))
    codes = np.clip(rounded, 0, LEVELS).astype(np.uint8).ravel()[:n]
    return Q8Code(
        codes=codes,
        scale=scale,
        offset=offset.astype(np.float32),
        shape=tuple(int(d) for d in np.shape(values)),
        block_size=block_size,
    )


def dequantize_q8(*, code: Q8Code) -> np.ndarray:
    """The float32 tensor that ``code`` stands for; :class:`CompressedPayloadError` when its
    parts do not fit together."""
    n = math.prod(code.shape)
    _expect(code.codes, "codes", np.uint8)
    _expect(code.scale, "scale", np.float32)
    _expect(code.offset, "offset", np.float32)
    if code.block_size < 1:
        raise CompressedPayloadError(f"q8 block size must be >= 1, got {code.block_size}")
    if code.codes.size != n:
        raise CompressedPayloadError(
            f"q8 codes hold {code.codes.size} values, shape {code.shape} needs {n}"
        )
    blocks = math.ceil(n / code.block_size)
    if code.scale.size != blocks or code.offset.size != blocks:
        raise CompressedPayloadError(
            f"q8 needs {blocks} scale and offset values for {n} values in blocks of "
            f"{code.block_size}, got {code.scale.size} and {code.offset.size}"
        )
    if not (np.isfinite(code.scale).all() and np.isfinite(code.offset).all()):
        raise CompressedPayloadError("q8 scale or offset holds NaN or Inf")
    scale = np.repeat(code.scale, code.block_size)[:n]
    offset = np.repeat(code.offset, code.block_size)[:n]
    return (offset + code.codes.ravel().astype(np.float32) * scale).reshape(code.shape)


def _expect(part: np.ndarray, name: str, dtype: type[np.generic]) -> None:
    if not isinstance(part, np.ndarray) or part.dtype != dtype:
        got = part.dtype if isinstance(part, np.ndarray) else type(part).__name__
        raise CompressedPayloadError(f"q8 {name} must be {np.dtype(dtype)}, got {got}")
    if part.ndim != 1:
        raise CompressedPayloadError(f"q8 {name} must be 1-d, got shape {part.shape}")
