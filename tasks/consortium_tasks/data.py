"""A built-in task's data as torch tensors: one participant's partition, the train pool, the
held-out test set.

Partitions are drawn from the train pool only, with a partitioner spec (``"iid"``,
``"dirichlet(0.5)"``) and a seed; the test set is fixed per data set (see
:mod:`consortium_tasks.datasets`) and never part of any partition.

>>> x, y = load_partition("digits-cnn", partition_id=0, num_partitions=5,
...                       partitioner_spec="iid", seed=42)
>>> tuple(x.shape[1:]), x.dtype, y.dtype
((1, 8, 8), torch.float32, torch.int64)
>>> len(load_test_set("digits-cnn")[1])
360
"""

from __future__ import annotations

import numpy as np
import torch
from consortium_core.partition import parse_partitioner

from .datasets import SplitDataset, load_dataset
from .errors import TaskError
from .registry import get_task

__all__ = [
    "load_partition",
    "load_test_set",
    "load_train_pool",
    "partition_indices",
    "task_dataset",
]

Tensors = tuple[torch.Tensor, torch.Tensor]


def task_dataset(task: str) -> SplitDataset:
    """The built-in data set of task ``task``."""
    spec = get_task(task)
    if spec.dataset is None:
        raise TaskError(f"task {task!r} has no built-in data set")
    return load_dataset(spec.dataset)


def partition_indices(
    task: str, *, num_partitions: int, partitioner_spec: str, seed: int
) -> list[np.ndarray]:
    """Indices into the task's train pool, one array per partition."""
    partitioner = parse_partitioner(partitioner_spec)
    labels = task_dataset(task).train_y
    return partitioner(labels=labels, num_partitions=num_partitions, seed=seed)


def load_partition(
    task: str, *, partition_id: int, num_partitions: int, partitioner_spec: str, seed: int
) -> Tensors:
    """Features and labels of partition ``partition_id`` of the task's train pool."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(
            f"partition-id must be in [0, {num_partitions - 1}] for {num_partitions} "
            f"partitions, got {partition_id}"
        )
    parts = partition_indices(
        task, num_partitions=num_partitions, partitioner_spec=partitioner_spec, seed=seed
    )
    data = task_dataset(task)
    chosen = parts[partition_id]
    return _tensors(data.train_x[chosen], data.train_y[chosen])


def load_train_pool(task: str) -> Tensors:
    """Every training example of the task (what a centralized baseline trains on)."""
    data = task_dataset(task)
    return _tensors(data.train_x, data.train_y)


def load_test_set(task: str) -> Tensors:
    """The task's held-out test set, on which every accuracy is measured."""
    data = task_dataset(task)
    return _tensors(data.test_x, data.test_y)


def _tensors(x: np.ndarray, y: np.ndarray) -> Tensors:
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
