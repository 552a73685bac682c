"""A built-in task's data as torch tensors: one participant's partition, the train pool, the
held-out test set.

Partitions are drawn from the train pool only, with a partitioner spec (``"iid"``,
``"dirichlet(0.5)"``) and a seed; the test set is fixed per data set (see
:mod:`consortium_tasks.datasets`) and never part of any partition. A simulation may also
declare a fraction of the train pool public (:func:`public_indices`: stratified, fixed seed):
no partition holds it, and a server may pretrain on it (:func:`load_public_set`), which changes
the threat model (that data is not protected) and must be said wherever results are shown.

>>> x, y = load_partition("digits-cnn", partition_id=0, num_partitions=5,
...                       partitioner_spec="iid", seed=42)
>>> tuple(x.shape[1:]), x.dtype, y.dtype
((1, 8, 8), torch.float32, torch.int64)
>>> len(load_test_set("digits-cnn")[1])
360
>>> len(load_public_set("digits-cnn", fraction=0.1)[1])
144
"""

from __future__ import annotations

import numpy as np
import torch
from consortium_core.partition import parse_partitioner
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from .datasets import DEVICE_DATASETS, SplitDataset, load_dataset
from .errors import TaskError
from .registry import get_task

__all__ = [
    "PUBLIC_SPLIT_SEED",
    "load_partition",
    "load_public_set",
    "load_test_set",
    "load_train_pool",
    "partition_indices",
    "public_indices",
    "task_dataset",
]

PUBLIC_SPLIT_SEED = 0

Tensors = tuple[torch.Tensor, torch.Tensor]


def task_dataset(task: str) -> SplitDataset:
    """The built-in data set of task ``task``."""
    spec = get_task(task)
    if spec.dataset is None:
        raise TaskError(f"task {task!r} has no built-in data set")
    return load_dataset(spec.dataset)


def public_indices(task: str, *, fraction: float) -> np.ndarray:
    """Indices into the task's train pool of the slice declared public: ``fraction`` of it,
    stratified by label, the same for every job (:data:`PUBLIC_SPLIT_SEED`); empty for 0.

    >>> len(public_indices("digits-cnn", fraction=0.0))
    0
    """
    if not 0.0 <= fraction < 1.0:
        raise TaskError(f"public-fraction must be in [0, 1), got {fraction}")
    labels = task_dataset(task).train_y
    if fraction == 0.0:
        return np.array([], dtype=np.int64)
    _, public = train_test_split(
        np.arange(len(labels)),
        test_size=fraction,
        stratify=labels,
        random_state=PUBLIC_SPLIT_SEED,
    )
    return np.sort(public)


def partition_indices(
    task: str,
    *,
    num_partitions: int,
    partitioner_spec: str,
    seed: int,
    public_fraction: float = 0.0,
) -> list[np.ndarray]:
    """Indices into the task's train pool, one array per partition, none of them public."""
    partitioner = parse_partitioner(partitioner_spec)
    labels = task_dataset(task).train_y
    private = np.setdiff1d(np.arange(len(labels)), public_indices(task, fraction=public_fraction))
    parts = partitioner(labels=labels[private], num_partitions=num_partitions, seed=seed)
    return [private[part] for part in parts]


def load_partition(
    task: str,
    *,
    partition_id: int,
    num_partitions: int,
    partitioner_spec: str,
    seed: int,
    public_fraction: float = 0.0,
) -> Tensors:
    """Features and labels of partition ``partition_id`` of the task's train pool (of its
    non-public part when ``public_fraction`` > 0); for a data set generated per device
    (``DEVICE_DATASETS``), device ``partition_id`` of the federation ``seed``."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(
            f"partition-id must be in [0, {num_partitions - 1}] for {num_partitions} "
            f"partitions, got {partition_id}"
        )
    device_loader = DEVICE_DATASETS.get(get_task(task).dataset or "")
    if device_loader is not None:  # one generated device per partition (no pool, no spec)
        return _tensors(*device_loader(seed=seed, device=partition_id))
    parts = partition_indices(
        task,
        num_partitions=num_partitions,
        partitioner_spec=partitioner_spec,
        seed=seed,
        public_fraction=public_fraction,
    )
    data = task_dataset(task)
    chosen = parts[partition_id]
    return _tensors(data.train_x[chosen], data.train_y[chosen])


def load_train_pool(task: str) -> Tensors:
    """Every training example of the task (what a centralized baseline trains on)."""
    data = task_dataset(task)
    return _tensors(data.train_x, data.train_y)


def load_public_set(task: str, *, fraction: float) -> Tensors:
    """The train pool's public slice (:func:`public_indices`), which no participant holds."""
    data = task_dataset(task)
    chosen = public_indices(task, fraction=fraction)
    return _tensors(data.train_x[chosen], data.train_y[chosen])


def load_test_set(task: str) -> Tensors:
    """The task's held-out test set, on which every accuracy is measured."""
    data = task_dataset(task)
    return _tensors(data.test_x, data.test_y)


def _tensors(x: np.ndarray, y: np.ndarray) -> Tensors:
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
