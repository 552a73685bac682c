"""Model, data and privacy recipe of task ``digits-private``, as in Flower's app template.

The recipe for differentially private federated digits (``make bench BENCH=privacy`` measures
it): a linear classifier on fixed, never-trained edge features of each image standardized on
its own (:class:`~consortium_tasks.models.DigitsEdgeLinear`; the standardization is the model's
first layer, so training, evaluation and the held-out score all see it), trained with
full-batch noisy gradient descent: every step uses all of a participant's examples (sample rate
1), ``local-epochs`` = 2 such steps per round, learning rate 0.7 with the tasks' momentum 0.9,
clipping norm 1.0, 20 rounds (:data:`PRIVATE_RUN_CONFIG`). A job adds ``dp-target-epsilon``,
every participant's epsilon over all its steps in the job.

Data: the same as ``digits-cnn`` (scikit-learn's digits, pixels in ``[0, 1]``; a participant's
own data is an image folder ``<data-path>/<digit>/*.png``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from consortium_tasks.client_settings import load_node_data
from consortium_tasks.digits_cnn.task import load_user_images
from consortium_tasks.models import DigitsEdgeLinear
from consortium_tasks.registry import get_task

__all__ = ["PRIVATE_RUN_CONFIG", "TASK", "build_model", "load_data"]

TASK = get_task("digits-private")
PRIVATE_RUN_CONFIG: Mapping[str, Any] = {
    "num-server-rounds": 20,
    "local-epochs": TASK.defaults.local_epochs,
    "learning-rate": TASK.defaults.learning_rate,
    "batch-size": TASK.defaults.batch_size,
    "dp-max-grad-norm": 1.0,
    "dp-delta": 1e-5,
}
"""The recipe's run config; a job adds ``dp-target-epsilon`` (or ``dp-noise-multiplier``)."""


def build_model() -> DigitsEdgeLinear:
    """The task's model: fixed features, a zero-initialized linear classifier."""
    return DigitsEdgeLinear()


def load_data(node_config: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """This participant's training data (a simulated partition or its own folder), cached."""
    return load_node_data(TASK.name, node_config, load_user_images)
