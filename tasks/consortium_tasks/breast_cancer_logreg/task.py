"""Model and data of task ``breast-cancer-logreg``, as in Flower's app template (``task.py``).

A participant's own data is a CSV file (``data-path``) with the 30 numeric features of
scikit-learn's breast cancer table and a label column (``label-column``, default ``target``:
``0``/``malignant`` or ``1``/``benign``). Features are standardized with the task's fixed scaler
(fitted on the built-in train pool), so every participant feeds the model the same scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from consortium_tasks.client_settings import load_node_data
from consortium_tasks.datasets import breast_cancer_scaler, load_dataset
from consortium_tasks.errors import DatasetError
from consortium_tasks.models import BreastCancerLogReg
from consortium_tasks.registry import get_task
from consortium_tasks.user_data import load_csv_table

__all__ = ["DEFAULT_LABEL_COLUMN", "TASK", "build_model", "load_data", "load_user_table"]

TASK = get_task("breast-cancer-logreg")
DEFAULT_LABEL_COLUMN = "target"


def build_model() -> BreastCancerLogReg:
    """The task's model, freshly initialized."""
    return BreastCancerLogReg()


def load_user_table(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The participant's own CSV table, named by ``data-path`` and ``label-column``."""
    data = load_csv_table(
        str(node_config["data-path"]),
        label_column=str(node_config.get("label-column", DEFAULT_LABEL_COLUMN)),
        class_names=load_dataset("sklearn-breast-cancer").class_names,
    )
    scaler = breast_cancer_scaler()
    if data.features.shape[1] != scaler.n_features_in_:
        raise DatasetError(
            f"task {TASK.name!r} needs {scaler.n_features_in_} feature columns, "
            f"{node_config['data-path']!r} has {data.features.shape[1]}"
        )
    scaled = scaler.transform(data.features.numpy())
    return torch.tensor(scaled, dtype=torch.float32), data.labels


def load_data(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """This participant's training data (a simulated partition or its own table), cached."""
    return load_node_data(TASK.name, node_config, load_user_table)
