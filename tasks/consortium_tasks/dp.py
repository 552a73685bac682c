"""Client-side DP-SGD with Opacus for the built-in tasks' training loop.

Same loop as :func:`consortium_tasks.training.train_model` (SGD with momentum), made private:
each step draws a Poisson sample of the examples at ``sample_rate`` (the sampling Opacus's
accountants assume; ``batch_size / n``, or every example for a full batch), clips each example's
gradient to ``max_grad_norm`` and adds Gaussian noise of standard deviation
``noise_multiplier * max_grad_norm`` to the sum. The result carries the model's loss and a
:class:`PrivacySpend` per accountant (RDP and PRV) of this call's steps, whose inputs are enough
for anyone to recompute epsilon.

What it costs, besides the per-example gradients: Opacus's per-sample machinery (a grad-sample
wrapper and its ``DPOptimizer``) is set up once per call, examples are sampled by indexing the
tensors (no ``DataLoader``), and epsilons are computed once per distinct
``(noise_multiplier, sample_rate, steps, delta)`` in a process (:func:`spends_of`, cached): the
rounds of a job repeat the same inputs, and PRV accounting takes 0.1-0.4 s a call.

>>> import torch
>>> from consortium_tasks.models import BreastCancerLogReg
>>> x, y = torch.randn(64, 30), torch.randint(0, 2, (64,))
>>> result = train_model_dp(BreastCancerLogReg(), x, y, epochs=1, learning_rate=0.1,
...                         batch_size=16, seed=0, max_grad_norm=1.0, delta=1e-5,
...                         noise_multiplier=1.0)
>>> result.steps, result.sample_rate, sorted(result.spends)
(4, 0.25, ['prv', 'rdp'])
>>> result.spends["rdp"].epsilon > result.spends["prv"].epsilon > 0
True
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import torch
from consortium_core.privacy import PrivacySpend, known_accountants, noise_multiplier_for
from consortium_core.privacy.errors import PrivacyParameterError
from opacus.grad_sample.utils import prepare_module
from opacus.optimizers import get_optimizer_class
from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping
from opacus.validators import ModuleValidator
from torch import nn

from .registry import FULL_BATCH
from .training import MOMENTUM

__all__ = [
    "DEFAULT_GRAD_SAMPLE_MODE",
    "GRAD_SAMPLE_MODES",
    "DPTrainingResult",
    "check_dp_compatible",
    "clipped_gradients",
    "job_noise_multiplier",
    "sample_rate_for",
    "spends_of",
    "steps_per_epoch",
    "train_model_dp",
]

GRAD_SAMPLE_MODES = ("hooks", "ew", "functorch", "ghost")
DEFAULT_GRAD_SAMPLE_MODE = "ghost"
"""Opacus's ghost clipping: the fastest of :data:`GRAD_SAMPLE_MODES` on ``digits-private``'s
full batches (about 1.4x plain training, ``hooks`` 2.3x; ``make bench BENCH=privacy``), close
to ``ew`` on ``digits-cnn``'s mini-batches, and the same clipped gradients as ``hooks`` on every
built-in model (``tests/unit/privacy``)."""
_MODES_THAT_RUN_EMPTY_BATCHES = frozenset({"hooks", "ghost"})


def sample_rate_for(*, batch_size: int, num_examples: int) -> float:
    """Poisson sampling probability of one step: ``batch_size / num_examples``, or 1.0 for a
    full batch (``batch_size`` is :data:`~consortium_tasks.registry.FULL_BATCH` or at least
    ``num_examples``).

    >>> sample_rate_for(batch_size=16, num_examples=64)
    0.25
    >>> sample_rate_for(batch_size=0, num_examples=6), sample_rate_for(batch_size=9, num_examples=8)
    (1.0, 1.0)
    """
    if batch_size == FULL_BATCH or batch_size >= num_examples:
        return 1.0
    return batch_size / num_examples


def steps_per_epoch(*, batch_size: int, num_examples: int) -> int:
    """Noisy steps in one epoch: ``ceil(num_examples / batch_size)``, 1 for a full batch.

    >>> steps_per_epoch(batch_size=16, num_examples=70)
    5
    >>> steps_per_epoch(batch_size=0, num_examples=70)
    1
    """
    if batch_size == FULL_BATCH or batch_size >= num_examples:
        return 1
    return math.ceil(num_examples / batch_size)


@lru_cache(maxsize=256)
def job_noise_multiplier(
    *, target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float:
    """The noise multiplier whose ``accountant`` epsilon over ``steps`` steps at
    ``sample_rate`` is at most ``target_epsilon`` (cached: every round of a job asks again).

    >>> job_noise_multiplier(target_epsilon=3.0, delta=1e-5, sample_rate=1.0, steps=60,
    ...                      accountant="rdp") > 10
    True
    """
    return noise_multiplier_for(
        target_epsilon=target_epsilon,
        delta=delta,
        sample_rate=sample_rate,
        steps=steps,
        accountant=accountant,
    )


def spends_of(
    *, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> dict[str, PrivacySpend]:
    """The spend of these inputs by every registered accountant (computed once per process for
    the same inputs).

    >>> spends = spends_of(noise_multiplier=10.0, sample_rate=1.0, steps=2, delta=1e-5)
    >>> sorted(spends), spends["rdp"].steps
    (['prv', 'rdp'], 2)
    """
    return dict(
        _cached_spends(
            noise_multiplier=float(noise_multiplier),
            sample_rate=float(sample_rate),
            steps=int(steps),
            delta=float(delta),
        )
    )


@lru_cache(maxsize=256)
def _cached_spends(
    *, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> Mapping[str, PrivacySpend]:
    with warnings.catch_warnings():
        # One round of a job spends little; RDP's best order is then the largest Opacus tries,
        # and it warns that the bound could be tighter (it is still an upper bound).
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return MappingProxyType(
            {
                name: PrivacySpend.compute(
                    accountant=name,
                    noise_multiplier=noise_multiplier,
                    sample_rate=sample_rate,
                    steps=steps,
                    delta=delta,
                )
                for name in known_accountants()
            }
        )


@dataclass(frozen=True)
class DPTrainingResult:
    """A private training's outcome: the loss, the privacy inputs and the epsilon per accountant.

    The model itself is trained in place (the caller's object).
    """

    train_loss: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float
    spends: dict[str, PrivacySpend] = field(default_factory=dict)

    def metrics(self) -> dict[str, float | int]:
        """Flat numbers for a Flower ``MetricRecord``: the inputs and one epsilon per accountant."""
        values: dict[str, float | int] = {
            "dp_noise_multiplier": self.noise_multiplier,
            "dp_sample_rate": self.sample_rate,
            "dp_steps": self.steps,
            "dp_delta": self.delta,
        }
        for name, spend in sorted(self.spends.items()):
            values[f"dp_epsilon_{name}"] = spend.epsilon
        return values


def check_dp_compatible(model: nn.Module) -> None:
    """Raise :class:`PrivacyParameterError` listing every layer Opacus cannot privatize.

    >>> from consortium_tasks.models import DigitsCNN
    >>> check_dp_compatible(DigitsCNN())
    >>> check_dp_compatible(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    Traceback (most recent call last):
    ...
    consortium_core.privacy.errors.PrivacyParameterError: model is not DP-compatible: ...
    """
    problems = ModuleValidator.validate(model, strict=False)
    if problems:
        raise PrivacyParameterError(
            "model is not DP-compatible: " + "; ".join(str(p) for p in problems)
        )


def train_model_dp(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    max_grad_norm: float,
    delta: float,
    noise_multiplier: float,
    seed: int | None = None,
    grad_sample_mode: str = DEFAULT_GRAD_SAMPLE_MODE,
    momentum: float = MOMENTUM,
) -> DPTrainingResult:
    """Train ``model`` in place with DP-SGD; return the loss and what the training spent.

    ``batch_size`` is the expected batch of Poisson sampling (:func:`sample_rate_for`;
    ``FULL_BATCH``, 0, takes every example at every step); an epoch is
    :func:`steps_per_epoch` steps. ``noise_multiplier`` is sigma: for a target epsilon, derive
    it first (:func:`job_noise_multiplier`). The spends are computed by every registered
    accountant from the steps taken in this call.

    ``seed`` makes the Poisson samples and the noise reproducible, for tests and simulations
    only: whoever knows it can regenerate the noise and subtract it. Left None, both come from
    generators seeded with 63 bits of the operating system's randomness (torch's generators,
    not a cryptographically secure one, which Opacus's secure mode would need).
    """
    _check_inputs(
        x=x,
        epochs=epochs,
        batch_size=batch_size,
        max_grad_norm=max_grad_norm,
        noise_multiplier=noise_multiplier,
        grad_sample_mode=grad_sample_mode,
    )
    check_dp_compatible(model)
    sample_rate = sample_rate_for(batch_size=batch_size, num_examples=len(x))
    steps = epochs * steps_per_epoch(batch_size=batch_size, num_examples=len(x))
    private_model, optimizer, criterion = _make_private(
        model,
        learning_rate=learning_rate,
        momentum=momentum,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=max(1, round(sample_rate * len(x))),
        noise_seed=_unpredictable_seed() if seed is None else seed + 1,
        grad_sample_mode=grad_sample_mode,
    )
    try:
        train_loss = _train(
            private_model,
            optimizer,
            criterion,
            x,
            y,
            sample_rate=sample_rate,
            steps=steps,
            steps_per_epoch=steps // epochs,
            generator=torch.Generator().manual_seed(
                _unpredictable_seed() if seed is None else seed
            ),
            forward_empty=grad_sample_mode in _MODES_THAT_RUN_EMPTY_BATCHES,
        )
    finally:
        _detach_opacus(private_model, model)
    return DPTrainingResult(
        train_loss=train_loss,
        noise_multiplier=float(noise_multiplier),
        sample_rate=float(sample_rate),
        steps=steps,
        delta=float(delta),
        spends=spends_of(
            noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps, delta=delta
        ),
    )


def clipped_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    max_grad_norm: float,
    grad_sample_mode: str,
) -> dict[str, torch.Tensor]:
    """The mean over ``(x, y)`` of the per-example gradients clipped to ``max_grad_norm``, as a
    DP-SGD step in ``grad_sample_mode`` computes it, without noise: the grad-sample modes of a
    model must agree on it. The model's weights are left unchanged.

    >>> from consortium_tasks.models import BreastCancerLogReg
    >>> x, y = torch.randn(8, 30), torch.randint(0, 2, (8,))
    >>> grads = clipped_gradients(BreastCancerLogReg(), x, y, max_grad_norm=0.1,
    ...                           grad_sample_mode="hooks")
    >>> sorted(grads), bool(grads["linear.weight"].norm() <= 0.1 + 1e-6)
    (['linear.bias', 'linear.weight'], True)
    """
    _check_inputs(
        x=x,
        epochs=1,
        batch_size=FULL_BATCH,
        max_grad_norm=max_grad_norm,
        noise_multiplier=1.0,
        grad_sample_mode=grad_sample_mode,
    )
    private_model, optimizer, criterion = _make_private(
        model,
        learning_rate=0.0,
        momentum=0.0,
        noise_multiplier=0.0,
        max_grad_norm=max_grad_norm,
        expected_batch_size=len(x),
        noise_seed=0,
        grad_sample_mode=grad_sample_mode,
    )
    try:
        private_model.train()
        optimizer.zero_grad()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            criterion(private_model(x), y).backward()
        optimizer.pre_step()
        grads = {
            name: parameter.grad.detach().clone()
            for name, parameter in model.named_parameters()
            if parameter.grad is not None
        }
        optimizer.zero_grad()
        return grads
    finally:
        _detach_opacus(private_model, model)


def _unpredictable_seed() -> int:
    return secrets.randbits(63)


def _check_inputs(
    *,
    x: torch.Tensor,
    epochs: int,
    batch_size: int,
    max_grad_norm: float,
    noise_multiplier: float,
    grad_sample_mode: str,
) -> None:
    problems = []
    if len(x) == 0:
        problems.append("cannot train on an empty data set")
    if epochs < 1:
        problems.append(f"epochs must be >= 1, got {epochs}")
    if batch_size < 0:
        problems.append(f"batch_size must be >= 1, or {FULL_BATCH} for a full batch")
    if not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        problems.append(f"max_grad_norm must be a finite number > 0, got {max_grad_norm}")
    if not (math.isfinite(noise_multiplier) and noise_multiplier > 0):
        problems.append(f"noise_multiplier must be a finite number > 0, got {noise_multiplier}")
    if grad_sample_mode not in GRAD_SAMPLE_MODES:
        problems.append(
            f"unknown grad_sample_mode {grad_sample_mode!r}; known: {', '.join(GRAD_SAMPLE_MODES)}"
        )
    if problems:
        raise PrivacyParameterError("; ".join(problems))


def _make_private(
    model: nn.Module,
    *,
    learning_rate: float,
    momentum: float,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: int,
    noise_seed: int,
    grad_sample_mode: str,
) -> tuple[nn.Module, Any, Any]:
    """Opacus's per-sample wrapper, DP optimizer and (for ghost clipping) loss, as
    ``PrivacyEngine.make_private`` builds them, without its data loader and accountant."""
    options: dict[str, Any] = {"batch_first": True, "loss_reduction": "mean"}
    if grad_sample_mode == "ghost":
        options["max_grad_norm"] = max_grad_norm
    private_model = prepare_module(model, grad_sample_mode, True, **options)
    optimizer_class = get_optimizer_class(
        clipping="flat", distributed=False, grad_sample_mode=grad_sample_mode
    )
    optimizer = optimizer_class(
        torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum),
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        loss_reduction="mean",
        generator=torch.Generator().manual_seed(noise_seed),
    )
    criterion: Any = nn.CrossEntropyLoss()
    if grad_sample_mode == "ghost":
        criterion = DPLossFastGradientClipping(private_model, optimizer, criterion, "mean")
    return private_model, optimizer, criterion


def _train(
    model: nn.Module,
    optimizer: Any,
    criterion: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sample_rate: float,
    steps: int,
    steps_per_epoch: int,
    generator: torch.Generator,
    forward_empty: bool,
) -> float:
    """Opacus's usual loop over Poisson samples drawn as Opacus's sampler draws them (one
    uniform number per example per step). An empty sample still steps (with noise alone):
    through the model where the grad-sample mode supports a batch of zero, else with zero
    per-sample gradients set by hand (expanded weights and functorch fail on an empty batch)."""
    model.train()
    total, seen, epoch_loss = 0.0, 0, float("nan")
    for step in range(steps):
        if sample_rate < 1.0:
            chosen = torch.rand(len(x), generator=generator) < sample_rate
            images, labels = x[chosen], y[chosen]
        else:
            images, labels = x, y
        optimizer.zero_grad()
        if len(labels) == 0 and not forward_empty:
            _set_empty_grad_samples(model)
        else:
            loss = criterion(model(images), labels)
            with warnings.catch_warnings():
                # Inputs never require gradients here; the hooks still see every layer.
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss.backward()
            if len(labels):
                total += float(loss.detach()) * len(labels)
                seen += len(labels)
        optimizer.step()
        if (step + 1) % steps_per_epoch == 0:
            epoch_loss = total / seen if seen else float("nan")
            total, seen = 0.0, 0
    return epoch_loss


def _set_empty_grad_samples(model: nn.Module) -> None:
    for parameter in model.parameters():
        if parameter.requires_grad:
            # Opacus's DPOptimizer reads per-sample gradients from this attribute.
            setattr(parameter, "grad_sample", parameter.new_zeros((0, *parameter.shape)))  # noqa: B010


def _detach_opacus(private_model: nn.Module, model: nn.Module) -> None:
    """Remove Opacus's hooks and per-sample attributes so ``model`` is a plain module again."""
    close = getattr(private_model, "_close", None)
    if callable(close):
        close()
    for parameter in model.parameters():
        for name in (
            "grad_sample",
            "_forward_counter",
            "_current_grad_sample",
            "summed_grad",
            "_norm_sample",
        ):
            if hasattr(parameter, name):
                delattr(parameter, name)
