"""Update compression: 8-bit quantization and top-k sparsification, with error feedback.

Pure functions over numpy arrays (no I/O, no Flower): :mod:`.q8` and :mod:`.topk` for one
tensor, :mod:`.codecs` for the registry of compressors by name and the encoding of a set of
named tensors, :mod:`.feedback` for the residual the sender keeps, :mod:`.settings` for a
job's ``compression.*`` run config. The Flower side (a client mod and a strategy wrapper)
lives in ``consortium_tasks.compression_mod`` and ``consortium_tasks.compression_strategy``.

>>> import numpy as np
>>> q8 = build_compressor("q8")
>>> encoded = encode_tensors(tensors={"w": np.ones((64, 64), np.float32)}, compressor=q8)
>>> payload_bytes(encoded)  # 4096 codes + one scale and one offset
4104
"""

from __future__ import annotations

from .codecs import (
    COMPRESSORS,
    Compressor,
    EncodedTensors,
    build_compressor,
    decode_tensors,
    encode_tensors,
    payload_bytes,
)
from .errors import CompressedPayloadError, CompressionConfigError, CompressionError
from .feedback import encode_with_feedback, usable_residual
from .q8 import Q8Code, dequantize_q8, quantize_q8
from .settings import CompressionSettings
from .topk import TopKCode, count_for, densify_topk, sparsify_topk

__all__ = [
    "COMPRESSORS",
    "CompressedPayloadError",
    "CompressionConfigError",
    "CompressionError",
    "CompressionSettings",
    "Compressor",
    "EncodedTensors",
    "Q8Code",
    "TopKCode",
    "build_compressor",
    "count_for",
    "decode_tensors",
    "densify_topk",
    "dequantize_q8",
    "encode_tensors",
    "encode_with_feedback",
    "payload_bytes",
    "quantize_q8",
    "sparsify_topk",
    "usable_residual",
]
