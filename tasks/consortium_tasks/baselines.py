"""Non-federated trainings of a task's model, to compare federated training against.

Both are real trainings of the same model, with the same loop and hyper-parameters as the
participants use, scored on the same held-out test set:

- centralized: one model trained on the whole train pool (the upper reference);
- local-only: each partition trains its own model alone (what a participant gets without
  federation).

Give ``epochs`` comparable to federated training, i.e. rounds x local epochs.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from .data import load_partition, load_test_set, load_train_pool
from .models import build_seeded
from .registry import get_task, load_app
from .training import evaluate_model, train_model

__all__ = ["train_centralized", "train_local_only"]


def train_centralized(
    task_name: str,
    *,
    epochs: int,
    seed: int,
    learning_rate: float | None = None,
    batch_size: int | None = None,
) -> float:
    """Accuracy on the held-out test set of the model trained on the whole train pool."""
    x, y = load_train_pool(task_name)
    return _train_and_score(
        task_name,
        x,
        y,
        epochs=epochs,
        seed=seed,
        learning_rate=learning_rate,
        batch_size=batch_size,
    )


def train_local_only(
    task_name: str,
    *,
    num_partitions: int,
    partitioner_spec: str,
    seed: int,
    epochs: int,
    learning_rate: float | None = None,
    batch_size: int | None = None,
) -> dict[int, float]:
    """Held-out test accuracy of each partition's model, trained on that partition alone.

    Partitions are the ones simulated participants get for the same spec and seed.
    """
    accuracies: dict[int, float] = {}
    for partition_id in range(num_partitions):
        x, y = load_partition(
            task_name,
            partition_id=partition_id,
            num_partitions=num_partitions,
            partitioner_spec=partitioner_spec,
            seed=seed,
        )
        accuracies[partition_id] = _train_and_score(
            task_name,
            x,
            y,
            epochs=epochs,
            seed=seed + partition_id,
            learning_rate=learning_rate,
            batch_size=batch_size,
        )
    return accuracies


def _train_and_score(
    task_name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    learning_rate: float | None,
    batch_size: int | None,
) -> float:
    spec = get_task(task_name)
    if spec.model is None:
        raise ValueError(f"task {task_name!r} names no model to train a baseline with")
    factory = cast(type[nn.Module], load_app(spec.model))
    model = build_seeded(factory, seed)
    train_model(
        model,
        x,
        y,
        epochs=epochs,
        learning_rate=learning_rate or spec.defaults.learning_rate,
        batch_size=batch_size or spec.defaults.batch_size,
        seed=seed,
    )
    test_x, test_y = load_test_set(task_name)
    return evaluate_model(model, test_x, test_y).accuracy
