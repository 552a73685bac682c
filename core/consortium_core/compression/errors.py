"""Typed errors of update compression."""

from __future__ import annotations

from consortium_core.errors import ConsortiumError

__all__ = ["CompressedPayloadError", "CompressionConfigError", "CompressionError"]


class CompressionError(ConsortiumError, ValueError):
    """Base class of compression errors; also raised for values that cannot be compressed
    (NaN or Inf)."""


class CompressionConfigError(CompressionError):
    """A job's ``compression.*`` settings that cannot work; the text says what to change."""


class CompressedPayloadError(CompressionError):
    """A compressed payload that cannot be decoded (missing part, wrong dtype, length or
    shape, index out of range, non-finite scale); the text names the tensor and the part."""
