"""Compressed tensors inside a Flower ``RecordDict``, and back.

An encoded set (:class:`consortium_core.compression.EncodedTensors`) travels as an
``ArrayRecord`` of its parts (uint8 codes, int32 indices, float32 scales and values) under
``compressed.down`` (server to participant) or ``compressed.up`` (participant to server), with
its metadata in a ``ConfigRecord`` under the same key plus ``.meta``. Nothing else changes in
the message, so any transport that carries a ``RecordDict`` carries them, and byte counters
count what really moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from consortium_core.compression import CompressedPayloadError, EncodedTensors, decode_tensors
from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

__all__ = [
    "DOWN_KEY",
    "UP_KEY",
    "decode_from",
    "has_payload",
    "numpy_tensors",
    "put_encoded",
    "tensor_record",
]

DOWN_KEY = "compressed.down"
UP_KEY = "compressed.up"
META_SUFFIX = ".meta"


def put_encoded(content: RecordDict, key: str, encoded: EncodedTensors) -> None:
    """Store ``encoded`` in ``content`` under ``key`` (parts) and ``key + '.meta'``."""
    content[key] = ArrayRecord({name: Array(part) for name, part in encoded.parts.items()})
    content[key + META_SUFFIX] = ConfigRecord(dict(encoded.meta))


def has_payload(content: RecordDict, key: str) -> bool:
    """Whether ``content`` holds a compressed payload under ``key``."""
    return key in content.array_records or key + META_SUFFIX in content.config_records


def decode_from(content: RecordDict, key: str) -> dict[str, np.ndarray]:
    """Decode the payload under ``key``, remove it from ``content`` and return the tensors;
    :class:`CompressedPayloadError` for a missing, unreadable or inconsistent payload."""
    if key not in content.array_records or key + META_SUFFIX not in content.config_records:
        raise CompressedPayloadError(f"message has no complete {key!r} payload")
    record = content.array_records[key]
    meta: Mapping[str, Any] = dict(content.config_records[key + META_SUFFIX])
    parts = {}
    for name, array in record.items():
        try:
            parts[name] = array.numpy()
        except Exception as exc:  # numpy raises several types for corrupt .npy data
            raise CompressedPayloadError(f"part {name!r} cannot be read: {exc}") from exc
    tensors = decode_tensors(parts=parts, meta=meta)
    del content[key]
    del content[key + META_SUFFIX]
    return tensors


def numpy_tensors(record: ArrayRecord) -> dict[str, np.ndarray]:
    """The arrays of ``record`` by name, as numpy."""
    return {name: array.numpy() for name, array in record.items()}


def tensor_record(tensors: Mapping[str, np.ndarray]) -> ArrayRecord:
    """An ``ArrayRecord`` of ``tensors``, in their order."""
    return ArrayRecord({name: Array(np.ascontiguousarray(t)) for name, t in tensors.items()})
