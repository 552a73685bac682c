"""Error feedback: what compression dropped is added to the next message.

The sender keeps a residual per tensor (zeros at first). Each round it compresses
``values + residual`` and keeps, as the new residual, what the receiver will not see:
``(values + residual) - decoded``. Nothing is lost, only delayed: over rounds, the sum of what
was decoded equals the sum of what was given minus the last residual, which stays bounded.
Pure functions: the caller stores the residual (a Flower client keeps it in its
``context.state``).

>>> import numpy as np
>>> from consortium_core.compression.codecs import build_compressor
>>> topk = build_compressor("topk", fraction=0.5)
>>> update = {"w": np.array([1.0, 0.25], dtype=np.float32)}
>>> first, residual = encode_with_feedback(tensors=update, residual=None, compressor=topk)
>>> residual["w"].tolist()
[0.0, 0.25]
>>> second, residual = encode_with_feedback(tensors=update, residual=residual, compressor=topk)
>>> residual["w"].tolist()
[0.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .codecs import Compressor, EncodedTensors, decode_tensors, encode_tensors

__all__ = ["encode_with_feedback", "usable_residual"]


def usable_residual(
    *, tensors: Mapping[str, np.ndarray], residual: Mapping[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """``residual`` when it matches ``tensors`` (names and shapes), else zeros: a residual
    from another model (or none yet) is not applicable."""
    if residual is not None and set(residual) == set(tensors):
        if all(np.shape(residual[k]) == np.shape(v) for k, v in tensors.items()):
            return {k: np.asarray(residual[k]) for k in tensors}
    return {k: np.zeros(np.shape(v), dtype=np.float32) for k, v in tensors.items()}


def encode_with_feedback(
    *,
    tensors: Mapping[str, np.ndarray],
    residual: Mapping[str, np.ndarray] | None,
    compressor: Compressor,
    rng: np.random.Generator | None = None,
) -> tuple[EncodedTensors, dict[str, np.ndarray]]:
    """Encode ``tensors + residual``; return the encoding and the new residual (float32,
    floating-point tensors only carry one; others travel raw and leave none)."""
    previous = usable_residual(tensors=tensors, residual=residual)
    corrected = {
        name: (
            np.asarray(value, dtype=np.float32) + previous[name]
            if np.issubdtype(np.asarray(value).dtype, np.floating)
            else np.asarray(value)
        )
        for name, value in tensors.items()
    }
    encoded = encode_tensors(tensors=corrected, compressor=compressor, rng=rng)
    decoded = decode_tensors(parts=encoded.parts, meta=encoded.meta)
    new_residual = {
        name: (
            (corrected[name] - decoded[name].astype(np.float32)).astype(np.float32)
            if np.issubdtype(corrected[name].dtype, np.floating)
            else np.zeros(np.shape(corrected[name]), dtype=np.float32)
        )
        for name in tensors
    }
    return encoded, new_residual
