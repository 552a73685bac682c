"""Model and data of task ``devices-logreg``, as in Flower's app template (``task.py``).

Data: Synthetic(alpha=1, beta=1) (:mod:`consortium_tasks.synthetic_devices`, where the ground
truth is written down). A simulated participant is one device: ``partition-id`` is its device
id and ``seed`` the federation it belongs to (``num-partitions`` bounds the id; ``partition``
is ignored, a device's data is its own, not a slice of a pool). Nothing is generated until a
device trains, so 10,000 devices cost no memory. The held-out test set (the ServerApp's) is 200
devices never trained on. A participant's own data is a CSV file (``data-path``) with 60
numeric feature columns and a ``label`` column (``label-column``) of classes ``0``-``9``.

Model: multinomial logistic regression, ``nn.Linear(60, 10)`` (610 weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from consortium_tasks.client_settings import load_node_data
from consortium_tasks.errors import DatasetError
from consortium_tasks.registry import get_task
from consortium_tasks.synthetic_devices import NUM_CLASSES, NUM_FEATURES
from consortium_tasks.user_data import load_csv_table

__all__ = [
    "DEFAULT_LABEL_COLUMN",
    "TASK",
    "DevicesLogReg",
    "build_model",
    "load_data",
    "load_user_table",
]

TASK = get_task("devices-logreg")
DEFAULT_LABEL_COLUMN = "label"


class DevicesLogReg(nn.Module):
    """Multinomial logistic regression: one linear layer from 60 features to 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of shape ``(N, 60)``."""
        logits: torch.Tensor = self.linear(features)
        return logits


def build_model() -> DevicesLogReg:
    """The task's model, freshly initialized."""
    return DevicesLogReg()


def load_user_table(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The participant's own CSV table, named by ``data-path`` and ``label-column``."""
    data = load_csv_table(
        str(node_config["data-path"]),
        label_column=str(node_config.get("label-column", DEFAULT_LABEL_COLUMN)),
        class_names=[str(c) for c in range(NUM_CLASSES)],
    )
    if data.features.shape[1] != NUM_FEATURES:
        raise DatasetError(
            f"task {TASK.name!r} needs {NUM_FEATURES} feature columns, "
            f"{node_config['data-path']!r} has {data.features.shape[1]}"
        )
    return data.features, data.labels


def load_data(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """This device's training data (generated from its id and seed, or its own table)."""
    return load_node_data(TASK.name, node_config, load_user_table)
