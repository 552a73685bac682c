"""Checks on a model update before it may be aggregated.

A reply whose arrays do not match what was sent (keys, shapes, dtypes) or that carries NaN or
Inf would poison the global model; the transport refuses it for that participant.

>>> import numpy as np
>>> from flwr.app import Array, ArrayRecord
>>> sent = ArrayRecord({"w": Array(np.zeros((2, 2), dtype=np.float32))})
>>> check_update(sent=sent, received=ArrayRecord({"w": Array(np.ones((2, 2), np.float32))}))
>>> check_update(sent=sent, received=ArrayRecord({"w": Array(np.ones((3,), np.float32))}))
Traceback (most recent call last):
...
consortium_core.errors.InvalidUpdateError: array 'w' has shape (3,), expected (2, 2)
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord

from .errors import InvalidUpdateError

__all__ = ["check_update"]


def check_update(*, sent: ArrayRecord, received: ArrayRecord) -> None:
    """Raise :class:`InvalidUpdateError` unless ``received`` is a sound update of ``sent``."""
    if set(sent) != set(received):
        missing = sorted(set(sent) - set(received))
        extra = sorted(set(received) - set(sent))
        raise InvalidUpdateError(f"array keys differ: missing {missing}, unexpected {extra}")
    for key, expected in sent.items():
        got = received[key]
        if tuple(got.shape) != tuple(expected.shape):
            raise InvalidUpdateError(
                f"array {key!r} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
            )
        if got.dtype != expected.dtype:
            raise InvalidUpdateError(
                f"array {key!r} has dtype {got.dtype}, expected {expected.dtype}"
            )
        try:
            values = got.numpy()
        except Exception as exc:  # numpy raises several types for corrupt .npy data
            raise InvalidUpdateError(f"array {key!r} cannot be read: {exc}") from exc
        if values.shape != tuple(expected.shape):
            raise InvalidUpdateError(f"array {key!r} data does not match its declared shape")
        if np.issubdtype(values.dtype, np.inexact) and not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise InvalidUpdateError(f"array {key!r} has {bad} NaN or Inf values")
