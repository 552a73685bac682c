"""Tests of the built-in data sets: held-out split, partitions, tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from consortium_tasks.data import (
    load_partition,
    load_test_set,
    load_train_pool,
    partition_indices,
    task_dataset,
)
from consortium_tasks.datasets import load_dataset

TASK_NAMES = ["digits-cnn", "breast-cancer-logreg"]


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("spec", ["iid", "dirichlet(0.5)"])
def test_held_out_test_set_is_disjoint_from_every_partition(task: str, spec: str) -> None:
    data = task_dataset(task)
    parts = partition_indices(task, num_partitions=5, partitioner_spec=spec, seed=42)
    trained_rows = set(np.concatenate([data.train_ids[p] for p in parts]).tolist())
    assert trained_rows == set(data.train_ids.tolist())
    assert trained_rows.isdisjoint(data.test_ids.tolist())


def test_test_split_is_fixed_and_stratified() -> None:
    digits = load_dataset("sklearn-digits")
    assert len(digits.test_y) == 360 and len(digits.train_y) == 1437
    assert np.bincount(digits.test_y).min() >= 35
    load_dataset.cache_clear()
    assert np.array_equal(load_dataset("sklearn-digits").test_ids, digits.test_ids)


def test_partitions_cover_the_train_pool_and_are_deterministic() -> None:
    pool_x, _ = load_train_pool("digits-cnn")
    sizes = []
    for partition_id in range(4):
        x, y = load_partition(
            "digits-cnn",
            partition_id=partition_id,
            num_partitions=4,
            partitioner_spec="dirichlet(0.5)",
            seed=1,
        )
        again, _ = load_partition(
            "digits-cnn",
            partition_id=partition_id,
            num_partitions=4,
            partitioner_spec="dirichlet(0.5)",
            seed=1,
        )
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8) and len(x) == len(y)
        assert torch.equal(x, again)
        sizes.append(len(x))
    assert sum(sizes) == len(pool_x)


def test_digit_pixels_are_scaled_to_unit_range() -> None:
    x, _ = load_test_set("digits-cnn")
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_breast_cancer_is_standardized_on_the_train_pool() -> None:
    x, _ = load_train_pool("breast-cancer-logreg")
    assert x.shape[1] == 30
    assert torch.allclose(x.mean(dim=0), torch.zeros(30), atol=1e-4)
    assert torch.allclose(x.std(dim=0, unbiased=False), torch.ones(30), atol=1e-3)


def test_bad_partition_id_is_refused() -> None:
    with pytest.raises(ValueError, match=r"partition-id must be in \[0, 2\]"):
        load_partition(
            "digits-cnn", partition_id=3, num_partitions=3, partitioner_spec="iid", seed=0
        )


def test_cached_arrays_cannot_be_modified() -> None:
    with pytest.raises(ValueError, match="read-only"):
        load_dataset("sklearn-digits").train_x[0, 0, 0, 0] = 5.0
