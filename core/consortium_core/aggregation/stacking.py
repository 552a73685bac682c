"""Stack clients' updates into one (K, N) float32 matrix with one copy, and split a row back.

An update is a flwr ``ArrayRecord`` or a sequence of numpy arrays. Arrays held in an
``ArrayRecord`` are read straight from their ``.npy`` bytes (no intermediate array), so each
parameter is copied exactly once, into its row of the preallocated matrix.

>>> import numpy as np
>>> a = [np.ones((2, 2), np.float32), np.arange(3, dtype=np.float32)]
>>> b = [np.zeros((2, 2), np.float32), np.arange(3, dtype=np.float32)]
>>> matrix, layout = stack_updates(updates=[a, b])
>>> matrix.shape, layout.size
((2, 7), 7)
>>> [x.shape for x in split_flat(flat=matrix[0], layout=layout)]
[(2, 2), (3,)]
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from .errors import ShapeMismatchError

__all__ = ["ArraySpec", "Layout", "UpdateLike", "array_view", "split_flat", "stack_updates"]

UpdateLike = ArrayRecord | Sequence[np.ndarray] | Mapping[str, np.ndarray]
"""One client's update: an ``ArrayRecord``, a list of arrays or a mapping of name to array."""


@dataclass(frozen=True)
class ArraySpec:
    """Where one named array of an update lives in a flat row, and what it looked like."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offset: int
    size: int


@dataclass(frozen=True)
class Layout:
    """The arrays of an update, in order, as they are laid out in one flat row of ``size``."""

    specs: tuple[ArraySpec, ...]
    size: int

    @property
    def keys(self) -> tuple[str, ...]:
        """The arrays' names, in row order."""
        return tuple(spec.key for spec in self.specs)


def array_view(array: Array | np.ndarray) -> np.ndarray:
    """Return a read-only numpy view of ``array`` without copying its data when possible.

    A flwr ``Array`` of stype ``numpy.ndarray`` holds ``np.save`` bytes: the header is parsed and
    the data is viewed in place. Any other stype falls back to ``Array.numpy()``.
    """
    if isinstance(array, np.ndarray):
        return array
    if array.stype != "numpy.ndarray":
        return array.numpy()
    stream = io.BytesIO(array.data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject:
        return array.numpy()
    count = int(np.prod(shape, dtype=np.int64))
    flat = np.frombuffer(array.data, dtype=dtype, count=count, offset=stream.tell())
    return flat.reshape(shape, order="F" if fortran_order else "C")


def _named_arrays(update: UpdateLike) -> list[tuple[str, Array | np.ndarray]]:
    if isinstance(update, ArrayRecord | Mapping):
        return list(update.items())
    return [(str(i), a) for i, a in enumerate(update)]


def _spec_of(item: Array | np.ndarray) -> tuple[tuple[int, ...], np.dtype[Any]]:
    if isinstance(item, np.ndarray):
        return tuple(item.shape), item.dtype
    return tuple(item.shape), np.dtype(item.dtype)


def _layout(named: list[tuple[str, Array | np.ndarray]], keys: Sequence[str] | None) -> Layout:
    by_key = dict(named)
    wanted = list(keys) if keys is not None else [k for k, _ in named]
    specs, offset = [], 0
    for key in wanted:
        shape, dtype = _spec_of(by_key[key])
        size = int(np.prod(shape, dtype=np.int64))
        specs.append(ArraySpec(key=key, shape=shape, dtype=dtype, offset=offset, size=size))
        offset += size
    return Layout(specs=tuple(specs), size=offset)


def _check_same_layout(updates: list[list[tuple[str, Array | np.ndarray]]], layout: Layout) -> None:
    problems: list[str] = []
    first_keys = [k for k, _ in updates[0]]
    for index, named in enumerate(updates[1:], start=1):
        names = [k for k, _ in named]
        if sorted(names) != sorted(first_keys):
            problems.append(f"update {index} has keys {names}, update 0 has {first_keys}")
            continue
        by_key = dict(named)
        for spec in layout.specs:
            shape, dtype = _spec_of(by_key[spec.key])
            if shape != spec.shape or dtype != spec.dtype:
                problems.append(
                    f"update {index} array {spec.key!r} is {dtype}{list(shape)}, "
                    f"update 0 has {spec.dtype}{list(spec.shape)}"
                )
    if problems:
        raise ShapeMismatchError("updates cannot be stacked: " + "; ".join(problems))


def stack_updates(
    *,
    updates: Sequence[UpdateLike],
    keys: Sequence[str] | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Layout]:
    """Copy ``updates`` (K of them) into one C-contiguous (K, N) float32 matrix, once.

    ``keys`` picks (and orders) the arrays to stack; by default all of them, in the first update's
    order (list updates are named ``"0"``, ``"1"``, ...). Every update must hold the same names with
    the same shapes and dtypes as the first, else :class:`ShapeMismatchError` lists each mismatch.
    ``out`` may be a preallocated (K, N) float32 matrix to fill.
    """
    if not updates:
        raise ShapeMismatchError("no updates to stack")
    named = [_named_arrays(update) for update in updates]
    first = dict(named[0])
    if keys is not None and (missing := [k for k in keys if k not in first]):
        raise ShapeMismatchError(f"updates cannot be stacked: keys {missing} are not in update 0")
    layout = _layout(named[0], keys)
    _check_same_layout(named, layout)
    shape = (len(updates), layout.size)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ShapeMismatchError(f"out must be a C-contiguous float32 {shape} matrix")
    for row, update in zip(out, named, strict=True):
        by_key = dict(update)
        for spec in layout.specs:
            source = array_view(by_key[spec.key])
            np.copyto(row[spec.offset : spec.offset + spec.size].reshape(spec.shape), source)
    return out, layout


def split_flat(*, flat: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """Cut a flat vector of ``layout.size`` back into new arrays of the original shapes and dtypes.

    Float32 pieces are views of ``flat`` when it is float32; other dtypes are cast (a copy).
    """
    if flat.ndim != 1 or flat.shape[0] != layout.size:
        raise ShapeMismatchError(
            f"flat vector has shape {flat.shape}, layout needs ({layout.size},)"
        )
    return [
        flat[spec.offset : spec.offset + spec.size]
        .reshape(spec.shape)
        .astype(spec.dtype, copy=False)
        for spec in layout.specs
    ]
