"""One local training step of a built-in task: plain SGD, or DP-SGD when the job asks for it.

The ClientApps call :func:`train_locally`; it returns the metrics the reply carries, including
the privacy spend (``dp_*``) of this call when DP-SGD is on, so the coordinator can record each
participant's spend (never averaged across participants).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .client_settings import dp_settings, hyperparams, proximal_mu, training_seed
from .dp import train_model_dp
from .errors import TaskError
from .registry import HyperParams
from .training import train_model

__all__ = ["train_locally"]


def train_locally(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    defaults: HyperParams,
    node_config: Mapping[str, Any],
    run_config: Mapping[str, Any],
    config: Mapping[str, Any],
) -> dict[str, float]:
    """Train ``model`` in place; return ``train_loss`` and, with DP-SGD, the ``dp_*`` spend."""
    settings = hyperparams(defaults, run_config, config)
    seed = training_seed(node_config, config)
    dp = dp_settings(run_config, config)
    if dp is None:
        loss = train_model(
            model,
            x,
            y,
            epochs=settings.local_epochs,
            learning_rate=settings.learning_rate,
            batch_size=settings.batch_size,
            seed=seed,
            proximal_mu=proximal_mu(config),
        )
        return {"train_loss": loss}
    if proximal_mu(config) > 0:
        raise TaskError("FedProx's proximal term is not available with DP-SGD yet")
    result = train_model_dp(
        model,
        x,
        y,
        epochs=settings.local_epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        seed=seed,
        max_grad_norm=dp.max_grad_norm,
        delta=dp.delta,
        noise_multiplier=dp.noise_multiplier,
        target_epsilon=dp.target_epsilon,
        accountant=dp.accountant,
        grad_sample_mode=dp.grad_sample_mode,
    )
    return {"train_loss": result.train_loss, **result.metrics()}
