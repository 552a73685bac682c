"""One local training step of a built-in task: plain SGD, or DP-SGD when the job asks for it.

The ClientApps call :func:`train_locally`; it returns the metrics the reply carries, including
the privacy spend (``dp_*``) of this call when DP-SGD is on, so the coordinator can record each
participant's spend (never averaged across participants).

DP-SGD's noise is given (``dp-noise-multiplier``) or derived from ``dp-target-epsilon``, the
participant's epsilon over ALL its steps in the job: ``num-server-rounds`` x the steps of one
round (``local-epochs`` x :func:`~consortium_tasks.dp.steps_per_epoch`), at the round's sample
rate. Every round then uses the same noise multiplier, and the job's rounds composed spend at
most the target (less for a participant left out of some rounds). The ``dp_epsilon_*`` a reply
reports are of that round alone; the composition over rounds is the ledger's and the report's
(``consortium_core.privacy.composed_epsilon``), from the reported ``dp_noise_multiplier``,
``dp_sample_rate`` and ``dp_steps``. The noise itself is unpredictable unless the participant's
node config asks for reproducible noise (``dp-seeded-noise``, simulations only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .client_settings import (
    DPSettings,
    dp_settings,
    hyperparams,
    num_server_rounds,
    proximal_mu,
    seeded_noise,
    training_seed,
)
from .dp import (
    DEFAULT_GRAD_SAMPLE_MODE,
    job_noise_multiplier,
    sample_rate_for,
    steps_per_epoch,
    train_model_dp,
)
from .errors import TaskError
from .oversampling import oversample, oversampling_method
from .registry import HyperParams
from .training import train_model

__all__ = ["round_noise_multiplier", "train_locally"]


def round_noise_multiplier(
    dp: DPSettings,
    *,
    num_examples: int,
    batch_size: int,
    local_epochs: int,
    num_rounds: int,
) -> float:
    """Sigma of every round: given, or the smallest whose epsilon over the whole job
    (``num_rounds`` rounds of ``local_epochs`` epochs) stays within ``dp.target_epsilon``.

    >>> dp = DPSettings(None, 3.0, 1e-5, 1.0, "rdp", None)
    >>> one_round = round_noise_multiplier(dp, num_examples=200, batch_size=0, local_epochs=2,
    ...                                    num_rounds=1)
    >>> thirty = round_noise_multiplier(dp, num_examples=200, batch_size=0, local_epochs=2,
    ...                                 num_rounds=30)
    >>> thirty > 4 * one_round
    True
    """
    if dp.noise_multiplier is not None:
        return dp.noise_multiplier
    assert dp.target_epsilon is not None
    if num_rounds < 1:
        raise TaskError(f"num-server-rounds must be >= 1, got {num_rounds}")
    steps = (
        num_rounds
        * local_epochs
        * steps_per_epoch(batch_size=batch_size, num_examples=num_examples)
    )
    return job_noise_multiplier(
        target_epsilon=dp.target_epsilon,
        delta=dp.delta,
        sample_rate=sample_rate_for(batch_size=batch_size, num_examples=num_examples),
        steps=steps,
        accountant=dp.accountant,
    )


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
    """Train ``model`` in place; return ``train_loss`` and, with DP-SGD, the ``dp_*`` spend.

    A participant whose node config asks for it (``oversample`` = ``smote``) trains on its data
    with synthetic minority examples added (:mod:`consortium_tasks.oversampling`)."""
    settings = hyperparams(defaults, run_config, config)
    seed = training_seed(node_config, config)
    dp = dp_settings(run_config, config)
    method = oversampling_method(node_config)
    if dp is None:
        x, y = oversample(x, y, method=method, seed=seed)
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
    if method != "none":
        raise TaskError(
            f"oversample={method} is refused with DP-SGD: a synthetic example mixes real ones, "
            "so DP-SGD's guarantee would no longer be per person"
        )
    sigma = round_noise_multiplier(
        dp,
        num_examples=len(x),
        batch_size=settings.batch_size,
        local_epochs=settings.local_epochs,
        num_rounds=num_server_rounds(run_config, config),
    )
    result = train_model_dp(
        model,
        x,
        y,
        epochs=settings.local_epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        seed=seed if seeded_noise(node_config) else None,
        max_grad_norm=dp.max_grad_norm,
        delta=dp.delta,
        noise_multiplier=sigma,
        grad_sample_mode=dp.grad_sample_mode or DEFAULT_GRAD_SAMPLE_MODE,
    )
    return {"train_loss": result.train_loss, **result.metrics()}
