"""Local training and evaluation loops shared by the ClientApps, the ServerApps and the baselines.

Plain torch on tensors already in memory: SGD with momentum and gradient-norm clipping (which
keeps long trainings stable), shuffled mini-batches drawn from a seeded generator (so a run is
reproducible), optional FedProx proximal term.

>>> import torch
>>> from consortium_tasks.models import BreastCancerLogReg
>>> x, y = torch.randn(64, 30), torch.randint(0, 2, (64,))
>>> model = BreastCancerLogReg()
>>> loss = train_model(model, x, y, epochs=1, learning_rate=0.1, batch_size=16, seed=0)
>>> loss > 0, 0.0 <= evaluate_model(model, x, y).accuracy <= 1.0
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MAX_GRAD_NORM", "MOMENTUM", "Evaluation", "evaluate_model", "train_model"]

MOMENTUM = 0.9
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy loss and accuracy of a model on a set of examples."""

    loss: float
    accuracy: float
    num_examples: int


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    proximal_mu: float = 0.0,
) -> float:
    """Train ``model`` in place; return the mean training loss of the last epoch.

    ``batch_size`` 0 (``FULL_BATCH``) takes every example at every step. With
    ``proximal_mu > 0`` the loss gets FedProx's ``mu / 2 * ||w - w_start||^2`` term, where
    ``w_start`` are the weights the model had on entry (the global model).
    """
    if len(x) == 0:
        raise ValueError("cannot train on an empty data set")
    if batch_size < 0:
        raise ValueError(f"batch_size must be >= 1, or 0 for a full batch, got {batch_size}")
    batch_size = batch_size or len(x)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=MOMENTUM)
    start = [p.detach().clone() for p in model.parameters()] if proximal_mu > 0 else []
    criterion = nn.CrossEntropyLoss()
    model.train()
    epoch_loss = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total, seen = 0.0, 0
        for batch in torch.split(order, batch_size):
            optimizer.zero_grad()
            loss = criterion(model(x[batch]), y[batch])
            if start:
                loss = loss + _proximal_term(model, start, proximal_mu)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        epoch_loss = total / seen
    return epoch_loss


def _proximal_term(model: nn.Module, start: list[torch.Tensor], mu: float) -> torch.Tensor:
    squares = [(p - p0).pow(2).sum() for p, p0 in zip(model.parameters(), start, strict=True)]
    return 0.5 * mu * torch.stack(squares).sum()


@torch.no_grad()
def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Evaluation:
    """Cross-entropy loss and accuracy of ``model`` on ``(x, y)``."""
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty data set")
    model.eval()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    accuracy = (logits.argmax(dim=1) == y).float().mean()
    return Evaluation(loss=float(loss), accuracy=float(accuracy), num_examples=len(x))
