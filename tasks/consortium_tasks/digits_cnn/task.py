"""Model and data of task ``digits-cnn``, as in Flower's app template (``task.py``).

A participant's own data is an image folder ``<data-path>/<digit>/*.png``; images are turned
grayscale and resized to 8x8, pixel values in ``[0, 1]`` (bright strokes on a dark background,
like scikit-learn's digits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from consortium_tasks.client_settings import load_node_data
from consortium_tasks.datasets import load_dataset
from consortium_tasks.models import DigitsCNN
from consortium_tasks.registry import get_task
from consortium_tasks.user_data import load_image_folder

__all__ = ["IMAGE_SIZE", "TASK", "build_model", "load_data", "load_user_images"]

TASK = get_task("digits-cnn")
IMAGE_SIZE = (8, 8)


def build_model() -> DigitsCNN:
    """The task's model, freshly initialized."""
    return DigitsCNN()


def load_user_images(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The participant's own image folder, named by ``data-path``."""
    class_names = load_dataset("sklearn-digits").class_names
    data = load_image_folder(
        str(node_config["data-path"]), grayscale=True, size=IMAGE_SIZE, class_names=class_names
    )
    return data.features, data.labels


def load_data(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """This participant's training data (a simulated partition or its own folder), cached."""
    return load_node_data(TASK.name, node_config, load_user_images)
