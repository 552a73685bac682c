"""Client-side DP-SGD with Opacus for the built-in tasks' training loop.

Same loop as :func:`consortium_tasks.training.train_model` (SGD with momentum over mini-batches),
made private: Poisson sampling at ``batch_size / n`` (the sampling Opacus's accountants assume),
each example's gradient clipped to ``max_grad_norm``, Gaussian noise of standard deviation
``noise_multiplier * max_grad_norm`` added to the sum. The noise multiplier is given, or derived
from a target epsilon. The result carries the model and a :class:`PrivacySpend` per accountant
(RDP and PRV), whose inputs are enough for anyone to recompute epsilon.

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
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from consortium_core.privacy import PrivacySpend, known_accountants, noise_multiplier_for
from consortium_core.privacy.errors import PrivacyParameterError
from opacus import PrivacyEngine
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .training import MOMENTUM

__all__ = [
    "DEFAULT_GRAD_SAMPLE_MODE",
    "GRAD_SAMPLE_MODES",
    "DPTrainingResult",
    "check_dp_compatible",
    "train_model_dp",
]

GRAD_SAMPLE_MODES = ("hooks", "ew", "functorch", "ghost")
DEFAULT_GRAD_SAMPLE_MODE = "hooks"
_MODES_THAT_RUN_EMPTY_BATCHES = frozenset({"hooks", "ghost"})


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
    seed: int,
    max_grad_norm: float,
    delta: float,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    accountant: str = "rdp",
    grad_sample_mode: str = DEFAULT_GRAD_SAMPLE_MODE,
    momentum: float = MOMENTUM,
) -> DPTrainingResult:
    """Train ``model`` in place with DP-SGD; return the loss and what the training spent.

    Give exactly one of ``noise_multiplier`` and ``target_epsilon``; with the latter, the noise
    multiplier is the smallest that keeps ``accountant``'s epsilon over all ``epochs`` at most
    the target. The spends are computed by every registered accountant from the steps actually
    taken.
    """
    _check_inputs(
        x=x,
        epochs=epochs,
        batch_size=batch_size,
        max_grad_norm=max_grad_norm,
        noise_multiplier=noise_multiplier,
        target_epsilon=target_epsilon,
        grad_sample_mode=grad_sample_mode,
    )
    check_dp_compatible(model)
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    sample_rate = 1 / len(loader)
    if noise_multiplier is None:
        assert target_epsilon is not None
        noise_multiplier = noise_multiplier_for(
            target_epsilon=target_epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=epochs * len(loader),
            accountant=accountant,
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    criterion = nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        # Opacus warns that its non-secure RNG is on: seeded, reproducible sampling is the point.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        prepared = engine.make_private(
            module=model,
            optimizer=optimizer,
            criterion=criterion,
            data_loader=loader,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            poisson_sampling=True,
            noise_generator=torch.Generator().manual_seed(seed + 1),
            grad_sample_mode=grad_sample_mode,
        )
    if grad_sample_mode == "ghost":
        private_model, private_optimizer, private_criterion, private_loader = prepared
    else:
        private_model, private_optimizer, private_loader = prepared
        private_criterion = criterion
    try:
        train_loss = _train(
            private_model,
            private_optimizer,
            private_criterion,
            private_loader,
            epochs=epochs,
            forward_empty=grad_sample_mode in _MODES_THAT_RUN_EMPTY_BATCHES,
        )
    finally:
        _detach_opacus(private_model, model)
    steps = _steps_taken(engine.accountant.history, noise_multiplier, sample_rate)
    spends = {
        name: PrivacySpend.compute(
            accountant=name,
            noise_multiplier=noise_multiplier,
            sample_rate=sample_rate,
            steps=steps,
            delta=delta,
        )
        for name in known_accountants()
    }
    return DPTrainingResult(
        train_loss=train_loss,
        noise_multiplier=float(noise_multiplier),
        sample_rate=float(sample_rate),
        steps=steps,
        delta=float(delta),
        spends=spends,
    )


def _check_inputs(
    *,
    x: torch.Tensor,
    epochs: int,
    batch_size: int,
    max_grad_norm: float,
    noise_multiplier: float | None,
    target_epsilon: float | None,
    grad_sample_mode: str,
) -> None:
    problems = []
    if len(x) == 0:
        problems.append("cannot train on an empty data set")
    if epochs < 1:
        problems.append(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        problems.append(f"batch_size must be >= 1, got {batch_size}")
    if not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        problems.append(f"max_grad_norm must be a finite number > 0, got {max_grad_norm}")
    if (noise_multiplier is None) == (target_epsilon is None):
        problems.append("give exactly one of noise_multiplier and target_epsilon")
    if grad_sample_mode not in GRAD_SAMPLE_MODES:
        problems.append(
            f"unknown grad_sample_mode {grad_sample_mode!r}; known: {', '.join(GRAD_SAMPLE_MODES)}"
        )
    if problems:
        raise PrivacyParameterError("; ".join(problems))


def _train(
    model: nn.Module,
    optimizer: Any,
    criterion: Any,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    forward_empty: bool,
) -> float:
    """Opacus's usual loop. An empty Poisson batch still steps (with noise alone): through the
    model where the grad-sample mode supports a batch of zero, else with zero per-sample
    gradients set by hand (expanded weights and functorch fail on an empty batch)."""
    model.train()
    epoch_loss = 0.0
    for _ in range(epochs):
        total, seen = 0.0, 0
        for images, labels in loader:
            optimizer.zero_grad()
            if len(labels) == 0 and not forward_empty:
                _set_empty_grad_samples(model)
                optimizer.step()
                continue
            loss = criterion(model(images), labels)
            with warnings.catch_warnings():
                # Inputs never require gradients here; the hooks still see every layer.
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss.backward()
            optimizer.step()
            if len(labels):
                total += float(loss.detach()) * len(labels)
                seen += len(labels)
        epoch_loss = total / seen if seen else float("nan")
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
        for name in ("grad_sample", "_forward_counter", "_current_grad_sample", "summed_grad"):
            if hasattr(parameter, name):
                delattr(parameter, name)


def _steps_taken(history: list[tuple[float, float, int]], sigma: float, rate: float) -> int:
    """Steps recorded by the engine's accountant, checked against the noise and rate we set."""
    steps = 0
    for step_sigma, step_rate, count in history:
        if not (math.isclose(step_sigma, sigma) and math.isclose(step_rate, rate)):
            raise PrivacyParameterError(
                f"accountant recorded noise {step_sigma} at rate {step_rate}, "
                f"expected {sigma} at {rate}"
            )
        steps += count
    return steps
