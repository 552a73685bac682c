"""Built-in data sets, each with a FIXED held-out test split that no participant trains on.

Both ship with scikit-learn (no download). The test split is stratified, 20 %, seed 0, and
independent of any job setting; participants' partitions are drawn from the train pool only.
Features are float32 ready for the task's model; labels are int64 class indices.

>>> digits = load_dataset("sklearn-digits")
>>> digits.train_x.shape, digits.test_x.shape
((1437, 1, 8, 8), (360, 1, 8, 8))
>>> load_dataset("sklearn-breast-cancer").train_x.shape
(455, 30)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from consortium_core.errors import UnknownNameError
from sklearn.datasets import load_breast_cancer, load_digits  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from . import synthetic_devices

__all__ = [
    "DATASETS",
    "DEVICE_DATASETS",
    "SYNTHETIC_TRAIN_POOL_DEVICES",
    "TEST_FRACTION",
    "TEST_SPLIT_SEED",
    "SplitDataset",
    "breast_cancer_scaler",
    "load_dataset",
]

TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 0
DIGITS_MAX_PIXEL = 16.0


@dataclass(frozen=True)
class SplitDataset:
    """A data set cut once into a train pool (for participants) and a held-out test set.

    ``train_ids`` and ``test_ids`` are the rows of the original data set in each part.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]
    train_ids: np.ndarray
    test_ids: np.ndarray


def _held_out_split(
    name: str, x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...]
) -> SplitDataset:
    train_ids, test_ids = train_test_split(
        np.arange(len(y)), test_size=TEST_FRACTION, stratify=y, random_state=TEST_SPLIT_SEED
    )
    return SplitDataset(
        name=name,
        train_x=_frozen(x[train_ids], np.float32),
        train_y=_frozen(y[train_ids], np.int64),
        test_x=_frozen(x[test_ids], np.float32),
        test_y=_frozen(y[test_ids], np.int64),
        class_names=class_names,
        train_ids=_frozen(train_ids, np.int64),
        test_ids=_frozen(test_ids, np.int64),
    )


def _frozen(values: np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """A read-only contiguous copy: cached data sets are shared by every caller."""
    copy = np.array(values, dtype=dtype, order="C")
    copy.flags.writeable = False
    return copy


def _digits() -> SplitDataset:
    bunch = load_digits()
    images = (bunch.images / DIGITS_MAX_PIXEL)[:, None, :, :]
    names = tuple(str(label) for label in bunch.target_names)
    return _held_out_split("sklearn-digits", images, bunch.target, names)


def _raw_breast_cancer() -> SplitDataset:
    bunch = load_breast_cancer()
    names = tuple(str(label) for label in bunch.target_names)
    return _held_out_split("sklearn-breast-cancer", bunch.data, bunch.target, names)


@lru_cache(maxsize=1)
def breast_cancer_scaler() -> StandardScaler:
    """The breast-cancer task's feature scaler, fitted on the train pool only."""
    return StandardScaler().fit(_raw_breast_cancer().train_x)


def _breast_cancer() -> SplitDataset:
    raw = _raw_breast_cancer()
    scaler = breast_cancer_scaler()
    return SplitDataset(
        name=raw.name,
        train_x=_frozen(scaler.transform(raw.train_x), np.float32),
        train_y=raw.train_y,
        test_x=_frozen(scaler.transform(raw.test_x), np.float32),
        test_y=raw.test_y,
        class_names=raw.class_names,
        train_ids=raw.train_ids,
        test_ids=raw.test_ids,
    )


SYNTHETIC_TRAIN_POOL_DEVICES = 1000
"""Devices of seed 42 that make ``synthetic-devices``' train pool (for centralized baselines)."""


def _synthetic_devices() -> SplitDataset:
    """Synthetic(1, 1) (:mod:`consortium_tasks.synthetic_devices`): the train pool is devices
    0-999 of seed 42; the test set is devices of a separate stream, never trained on."""
    train_x, train_y = synthetic_devices.devices_data(
        seed=42, devices=range(SYNTHETIC_TRAIN_POOL_DEVICES)
    )
    test_x, test_y = synthetic_devices.held_out_devices_data()
    return SplitDataset(
        name="synthetic-devices",
        train_x=_frozen(train_x, np.float32),
        train_y=_frozen(train_y, np.int64),
        test_x=_frozen(test_x, np.float32),
        test_y=_frozen(test_y, np.int64),
        class_names=tuple(str(c) for c in range(synthetic_devices.NUM_CLASSES)),
        train_ids=_frozen(np.arange(len(train_y)), np.int64),
        test_ids=_frozen(np.arange(len(test_y)), np.int64),
    )


DATASETS: Mapping[str, Callable[[], SplitDataset]] = {
    "sklearn-digits": _digits,
    "sklearn-breast-cancer": _breast_cancer,
    "synthetic-devices": _synthetic_devices,
}

DeviceLoader = Callable[..., tuple[np.ndarray, np.ndarray]]
DEVICE_DATASETS: Mapping[str, DeviceLoader] = {
    "synthetic-devices": synthetic_devices.device_data,
}
"""Data sets generated per device (``device_data(seed=, device=)``): a participant's partition
is device ``partition-id`` of the federation ``seed``, not a slice of the train pool."""


@cache
def load_dataset(name: str) -> SplitDataset:
    """Return built-in data set ``name`` (cached per process); unknown names list the known."""
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    return DATASETS[name]()
