"""The built-in tasks' torch models. No batch norm: every entry of a state dict is a float weight
that federated averaging can mix.

>>> import torch
>>> DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
>>> BreastCancerLogReg()(torch.zeros(3, 30)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["BreastCancerLogReg", "DigitsCNN", "build_seeded"]


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions, a 2x2 max-pool and two dense layers for 1x8x8 images."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of shape ``(N, 1, 8, 8)``."""
        logits: torch.Tensor = self.classifier(self.features(images))
        return logits


class BreastCancerLogReg(nn.Module):
    """Multinomial logistic regression (one linear layer) on standardized features."""

    def __init__(self, num_features: int = 30, num_classes: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of shape ``(N, num_features)``."""
        logits: torch.Tensor = self.linear(features)
        return logits


def build_seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a model whose initial weights depend only on ``seed`` (global RNG left untouched).

    >>> a, b = build_seeded(DigitsCNN, 3), build_seeded(DigitsCNN, 3)
    >>> all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()
