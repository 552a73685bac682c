"""The split network: a bottom model per party on its own columns, a top model at the label
holder on every party's embedding, and the training of one party's model alone (baselines)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from ..errors import TaskError

__all__ = [
    "EMBEDDING_SIZE",
    "BottomModel",
    "TopModel",
    "auc_of",
    "clip_embedding",
    "seeded",
    "train_alone",
]

EMBEDDING_SIZE = 4
HIDDEN = 16


class BottomModel(nn.Module):
    """One party's columns to an embedding of :data:`EMBEDDING_SIZE` numbers per customer."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_features, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, EMBEDDING_SIZE)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TopModel(nn.Module):
    """Every party's embedding, side by side, to the log-odds of fraud."""

    def __init__(self, num_parties: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_parties * EMBEDDING_SIZE, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1)
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.net(embeddings).squeeze(1)


def seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with its initial weights drawn from ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def clip_embedding(rows: torch.Tensor, clip_norm: float) -> torch.Tensor:
    """Rows scaled down to L2 norm ``clip_norm`` where longer (differentiable)."""
    norms = rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return rows * torch.clamp(clip_norm / norms, max=1.0)


def auc_of(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve, with a clear error when only one class is present."""
    if len(np.unique(labels)) < 2:
        raise TaskError("the test rows hold only one class: the AUC is undefined")
    return float(roc_auc_score(labels, scores))


def train_alone(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    clip_norm: float,
    seed: int,
) -> np.ndarray:
    """Train a bottom and a top model on one table (no noise, nothing crosses); return the
    scores of ``x_test``. The same architecture and schedule as the vertical model, so the two
    compare fairly."""
    bottom = seeded(lambda: BottomModel(x_train.shape[1]), seed)
    top = seeded(lambda: TopModel(1), seed + 1)
    optimizer = torch.optim.Adam([*bottom.parameters(), *top.parameters()], lr=learning_rate)
    x = torch.from_numpy(np.asarray(x_train, dtype=np.float32))
    y = torch.from_numpy(np.asarray(y_train, dtype=np.float32))
    order = np.random.default_rng(seed)
    for _ in range(epochs):
        for rows in np.array_split(order.permutation(len(x)), max(1, len(x) // batch_size)):
            optimizer.zero_grad()
            logits = top(clip_embedding(bottom(x[rows]), clip_norm))
            nn.functional.binary_cross_entropy_with_logits(logits, y[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        test = torch.from_numpy(np.asarray(x_test, dtype=np.float32))
        return top(clip_embedding(bottom(test), clip_norm)).numpy()
