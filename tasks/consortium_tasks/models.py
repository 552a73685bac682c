"""The built-in tasks' torch models. No batch norm: every entry of a state dict is a float weight
that federated averaging can mix.

>>> import torch
>>> DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
>>> BreastCancerLogReg()(torch.zeros(3, 30)).shape
torch.Size([3, 2])
>>> DigitsEdgeLinear()(torch.rand(2, 1, 8, 8)).shape
torch.Size([2, 10])
>>> sorted(DigitsEdgeLinear().state_dict())  # the fixed filters are not weights
['classifier.bias', 'classifier.weight']
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "BreastCancerLogReg",
    "DigitsCNN",
    "DigitsEdgeLinear",
    "FixedEdgeFeatures",
    "PerImageStandardize",
    "build_seeded",
    "edge_filter_bank",
]

STANDARDIZE_EPS = 1e-6


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


class PerImageStandardize(nn.Module):
    """Each image to zero mean and unit variance over its own pixels.

    A per-example transform: no statistic is shared between examples, so it costs no privacy.
    A blank image stays all zeros.
    """

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The batch ``(N, ...)`` with every example standardized on its own."""
        flat = images.flatten(1)
        centered = flat - flat.mean(dim=1, keepdim=True)
        scaled = centered / (flat.std(dim=1, keepdim=True) + STANDARDIZE_EPS)
        return scaled.view_as(images)


def edge_filter_bank() -> torch.Tensor:
    """Ten fixed 3x3 filters of unit norm, shape ``(10, 1, 3, 3)``: identity; first derivatives
    (Sobel) across, down and along both diagonals; the Laplacian; second derivatives across,
    down and along both diagonals.

    >>> bank = edge_filter_bank()
    >>> bank.shape, torch.allclose(bank.flatten(1).norm(dim=1), torch.ones(10))
    (torch.Size([10, 1, 3, 3]), True)
    """
    filters = torch.tensor(
        [
            [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
            [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
            [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],
            [[2, 1, 0], [1, 0, -1], [0, -1, -2]],
            [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
            [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
            [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
            [[1, 0, 0], [0, -2, 0], [0, 0, 1]],
            [[0, 0, 1], [0, -2, 0], [1, 0, 0]],
        ],
        dtype=torch.float32,
    ).unsqueeze(1)
    return filters / filters.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


class FixedEdgeFeatures(nn.Module):
    """Features that are never trained: the magnitude of each :func:`edge_filter_bank` response,
    averaged over 2x2 windows at stride 1, the vector standardized per example.

    Like a scattering network's first order (modulus of oriented filters, then local
    averaging), chosen before seeing any data. With no trainable weight it adds nothing for
    DP-SGD to clip or noise; only the classifier on top learns.
    """

    filters: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", edge_filter_bank(), persistent=False)

    @staticmethod
    def num_features(image_size: int = 8) -> int:
        """Length of the feature vector of a square ``image_size`` image (490 for 8x8)."""
        return len(edge_filter_bank()) * (image_size - 1) ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of shape ``(N, num_features)`` for images of shape ``(N, 1, H, W)``."""
        responses = nn.functional.conv2d(images, self.filters, padding=1).abs()
        pooled = nn.functional.avg_pool2d(responses, kernel_size=2, stride=1).flatten(1)
        centered = pooled - pooled.mean(dim=1, keepdim=True)
        return centered / (pooled.std(dim=1, keepdim=True) + STANDARDIZE_EPS)


class DigitsEdgeLinear(nn.Module):
    """A linear classifier on :class:`FixedEdgeFeatures` of per-image standardized 8x8 digits.

    Made for DP-SGD on little data: 4,910 trainable weights (the classifier's), smooth fixed
    features, and a zero-initialized classifier, so that a full-batch noisy step starts from
    every class scored alike.
    """

    def __init__(self, num_classes: int = 10, image_size: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(PerImageStandardize(), FixedEdgeFeatures())
        self.classifier = nn.Linear(FixedEdgeFeatures.num_features(image_size), num_classes)
        nn.init.zeros_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of shape ``(N, 1, 8, 8)``."""
        logits: torch.Tensor = self.classifier(self.features(images))
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
