"""Compressors by name, and the encoding of a whole set of named tensors.

A compressor turns one float tensor into named parts (numpy arrays) and back. Tensors that are
not floating point (counters such as ``num_batches_tracked``) travel raw. An encoded set is its
parts, keyed ``"<tensor>/<part>"``, and a small metadata dict of strings, ints and lists, so it
fits Flower's ``ArrayRecord`` and ``ConfigRecord`` as they are.

>>> sorted(COMPRESSORS)
['none', 'q8', 'topk']
>>> build_compressor("zip")
Traceback (most recent call last):
...
consortium_core.errors.UnknownNameError: unknown compressor 'zip'; known: none, q8, topk
>>> import numpy as np
>>> tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(7)}
>>> encoded = encode_tensors(tensors=tensors, compressor=build_compressor("topk", fraction=0.3))
>>> sorted(encoded.parts), encoded.meta["codecs"]
(['n/raw', 'w/indices', 'w/values'], ['topk', 'raw'])
>>> decoded = decode_tensors(parts=encoded.parts, meta=encoded.meta)
>>> decoded["w"].tolist(), int(decoded["n"])
([[0.0, 0.0, 0.0], [0.0, 4.0, 5.0]], 7)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import UnknownNameError
from .errors import CompressedPayloadError, CompressionError
from .q8 import DEFAULT_BLOCK_SIZE, Q8Code, dequantize_q8, quantize_q8
from .topk import TopKCode, count_for, densify_topk, sparsify_topk

__all__ = [
    "COMPRESSORS",
    "Compressor",
    "EncodedTensors",
    "NoCompression",
    "Q8Compressor",
    "TopKCompressor",
    "build_compressor",
    "decode_tensors",
    "encode_tensors",
    "payload_bytes",
]

SEPARATOR = "/"
RAW = "raw"


class Compressor(Protocol):
    """Encodes one float tensor into named parts and decodes them back (float32)."""

    name: str

    def encode(
        self, *, values: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]: ...

    def decode(self, *, parts: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray: ...

    def options(self) -> dict[str, int | float | bool]: ...


@dataclass(frozen=True)
class NoCompression:
    """float32 as it is (a baseline, and what ``none`` means)."""

    name: str = "none"

    def encode(
        self, *, values: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        return {"values": np.asarray(values, dtype=np.float32).ravel()}

    def decode(self, *, parts: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        values = _part(parts, "values", np.float32, math.prod(shape))
        return values.reshape(shape)

    def options(self) -> dict[str, int | float | bool]:
        return {}


@dataclass(frozen=True)
class Q8Compressor:
    """8-bit affine quantization per block (:mod:`.q8`); stochastic rounding when given an
    ``rng`` and ``stochastic`` is set."""

    block_size: int = DEFAULT_BLOCK_SIZE
    stochastic: bool = False
    name: str = "q8"

    def encode(
        self, *, values: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        code = quantize_q8(
            values=values, block_size=self.block_size, rng=rng if self.stochastic else None
        )
        return {"codes": code.codes, "scale": code.scale, "offset": code.offset}

    def decode(self, *, parts: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return dequantize_q8(
            code=Q8Code(
                codes=_part(parts, "codes"),
                scale=_part(parts, "scale"),
                offset=_part(parts, "offset"),
                shape=shape,
                block_size=self.block_size,
            )
        )

    def options(self) -> dict[str, int | float | bool]:
        return {"block-size": self.block_size, "stochastic": self.stochastic}


@dataclass(frozen=True)
class TopKCompressor:
    """Top-k by magnitude (:mod:`.topk`), ``fraction`` of each tensor; with ``quantize_values``
    the kept values are q8-quantized too (about 5 instead of 8 bytes per kept value)."""

    fraction: float = 0.01
    quantize_values: bool = False
    block_size: int = DEFAULT_BLOCK_SIZE
    name: str = "topk"

    def __post_init__(self) -> None:
        count_for(size=1, fraction=self.fraction)  # validates the fraction

    def encode(
        self, *, values: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        code = sparsify_topk(values=values, k=count_for(size=values.size, fraction=self.fraction))
        if not self.quantize_values:
            return {"indices": code.indices, "values": code.values}
        q = quantize_q8(values=code.values, block_size=self.block_size)
        return {"indices": code.indices, "codes": q.codes, "scale": q.scale, "offset": q.offset}

    def decode(self, *, parts: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        indices = _part(parts, "indices")
        if self.quantize_values:
            values = dequantize_q8(
                code=Q8Code(
                    codes=_part(parts, "codes"),
                    scale=_part(parts, "scale"),
                    offset=_part(parts, "offset"),
                    shape=(int(indices.size),),
                    block_size=self.block_size,
                )
            )
        else:
            values = _part(parts, "values")
        return densify_topk(code=TopKCode(indices=indices, values=values, shape=shape))

    def options(self) -> dict[str, int | float | bool]:
        return {
            "fraction": self.fraction,
            "quantize-values": self.quantize_values,
            "block-size": self.block_size,
        }


COMPRESSORS: Mapping[str, Callable[..., Compressor]] = {
    "none": NoCompression,
    "q8": Q8Compressor,
    "topk": TopKCompressor,
}


def build_compressor(name: str, **options: Any) -> Compressor:
    """The compressor registered as ``name`` with ``options`` (``fraction``, ``block_size``,
    ...); :class:`UnknownNameError` lists the known names."""
    if name not in COMPRESSORS:
        raise UnknownNameError("compressor", name, COMPRESSORS)
    try:
        return COMPRESSORS[name](**options)
    except TypeError as exc:
        raise CompressionError(f"compressor {name!r} does not take {sorted(options)}") from exc


@dataclass(frozen=True)
class EncodedTensors:
    """Named tensors, encoded: ``parts`` (``"<tensor>/<part>"`` -> array) and ``meta`` (the
    compressor, its options, each tensor's name, dtype, shape and codec)."""

    parts: dict[str, np.ndarray]
    meta: dict[str, Any]


def encode_tensors(
    *,
    tensors: Mapping[str, np.ndarray],
    compressor: Compressor,
    rng: np.random.Generator | None = None,
) -> EncodedTensors:
    """Encode every floating-point tensor with ``compressor``; others travel raw."""
    parts: dict[str, np.ndarray] = {}
    codecs, dtypes, ndims, dims = [], [], [], []
    for name, tensor in tensors.items():
        if SEPARATOR in name:
            raise CompressionError(f"tensor name {name!r} contains {SEPARATOR!r}")
        array = np.asarray(tensor)
        if np.issubdtype(array.dtype, np.floating):
            encoded = compressor.encode(values=array, rng=rng)
            codecs.append(compressor.name)
        else:
            encoded = {RAW: np.ascontiguousarray(array).ravel()}
            codecs.append(RAW)
        parts.update({f"{name}{SEPARATOR}{key}": value for key, value in encoded.items()})
        dtypes.append(array.dtype.str)
        ndims.append(array.ndim)
        dims.extend(int(d) for d in array.shape)
    meta: dict[str, Any] = {
        "codec": compressor.name,
        **compressor.options(),
        "names": list(tensors),
        "codecs": codecs,
        "dtypes": dtypes,
        "ndims": ndims,
        "dims": dims,
    }
    return EncodedTensors(parts=parts, meta=meta)


def decode_tensors(
    *, parts: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """The tensors that ``parts`` and ``meta`` encode, in their original dtypes and shapes;
    :class:`CompressedPayloadError` naming the tensor for anything that does not fit."""
    compressor = _compressor_from(meta)
    names, codecs, dtypes, shapes = _layout(meta)
    expected = set()
    tensors: dict[str, np.ndarray] = {}
    for name, codec, dtype, shape in zip(names, codecs, dtypes, shapes, strict=True):
        own = {
            key[len(name) + 1 :]: value
            for key, value in parts.items()
            if key.startswith(name + SEPARATOR)
        }
        expected.update(f"{name}{SEPARATOR}{key}" for key in own)
        try:
            if codec == RAW:
                raw = _part(own, RAW, dtype, math.prod(shape))
                tensors[name] = raw.reshape(shape)
            elif codec == compressor.name:
                tensors[name] = compressor.decode(parts=own, shape=shape).astype(dtype)
            else:
                raise CompressedPayloadError(f"codec {codec!r} is not {compressor.name!r} or raw")
        except CompressedPayloadError as exc:
            raise CompressedPayloadError(f"tensor {name!r}: {exc}") from exc
    unexpected = sorted(set(parts) - expected)
    if unexpected:
        raise CompressedPayloadError(f"parts of no listed tensor: {', '.join(unexpected)}")
    return tensors


def payload_bytes(encoded: EncodedTensors) -> int:
    """Bytes of the arrays in ``encoded`` (what the transport mostly moves)."""
    return sum(int(part.nbytes) for part in encoded.parts.values())


def _compressor_from(meta: Mapping[str, Any]) -> Compressor:
    name = meta.get("codec")
    if not isinstance(name, str):
        raise CompressedPayloadError("metadata has no codec name")
    keys = {"block-size": "block_size", "stochastic": "stochastic", "fraction": "fraction"}
    keys["quantize-values"] = "quantize_values"
    options = {attr: meta[key] for key, attr in keys.items() if key in meta}
    try:
        compressor = build_compressor(name, **options)
    except (UnknownNameError, CompressionError) as exc:
        raise CompressedPayloadError(str(exc)) from exc
    return compressor


def _layout(
    meta: Mapping[str, Any],
) -> tuple[list[str], list[str], list[np.dtype[Any]], list[tuple[int, ...]]]:
    try:
        names = [str(n) for n in meta["names"]]
        codecs = [str(c) for c in meta["codecs"]]
        dtypes = [np.dtype(str(d)) for d in meta["dtypes"]]
        ndims = [int(n) for n in meta["ndims"]]
        dims = [int(d) for d in meta["dims"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CompressedPayloadError(f"metadata is incomplete or malformed: {exc!r}") from exc
    if not len(names) == len(codecs) == len(dtypes) == len(ndims):
        raise CompressedPayloadError("metadata lists of names, codecs, dtypes, ndims differ")
    if sum(ndims) != len(dims) or min(ndims + dims, default=0) < 0:
        raise CompressedPayloadError("metadata dims do not match ndims")
    shapes, start = [], 0
    for ndim in ndims:
        shapes.append(tuple(dims[start : start + ndim]))
        start += ndim
    return names, codecs, dtypes, shapes


def _part(
    parts: Mapping[str, np.ndarray],
    key: str,
    dtype: np.dtype[Any] | type[np.generic] | None = None,
    size: int | None = None,
) -> np.ndarray:
    if key not in parts:
        raise CompressedPayloadError(f"part {key!r} is missing")
    part = parts[key]
    if not isinstance(part, np.ndarray):
        raise CompressedPayloadError(f"part {key!r} is not an array")
    if dtype is not None and part.dtype != np.dtype(dtype):
        raise CompressedPayloadError(f"part {key!r} is {part.dtype}, expected {np.dtype(dtype)}")
    if size is not None and (part.ndim != 1 or part.size != size):
        raise CompressedPayloadError(f"part {key!r} has shape {part.shape}, expected ({size},)")
    return part
