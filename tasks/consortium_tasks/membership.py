"""An empirical privacy check: a membership-inference attack on a trained model.

The loss-threshold attack (Yeom et al. 2018) guesses "member" when the model's loss on an
example is low. Its AUC over members (examples the model was trained on) and non-members (held
out, never trained on) measures how much the model gives its training set away: 0.5 is no
better than a coin, 1.0 tells every member apart. The advantage is the best ``TPR - FPR`` over
thresholds. It is a lower bound on the real risk (stronger attacks exist), shown beside the
formal epsilon, never instead of it.

>>> import torch
>>> from torch import nn
>>> torch.manual_seed(0) and None
>>> model = nn.Linear(4, 2)
>>> x, y = torch.randn(50, 4), torch.randint(0, 2, (50,))
>>> audit = loss_threshold_audit(model, (x[:25], y[:25]), (x[25:], y[25:]))
>>> audit.attack, audit.members, audit.non_members, 0.0 <= audit.auc <= 1.0
('loss-threshold', 25, 25, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from .errors import TaskError

__all__ = ["MembershipAudit", "balanced_sample", "loss_threshold_audit"]

Tensors = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class MembershipAudit:
    """The attack's outcome: AUC, best advantage, and how many examples of each kind it used."""

    attack: str
    auc: float
    advantage: float
    members: int
    non_members: int

    def metrics(self) -> dict[str, float | int]:
        """Flat numbers for a Flower ``MetricRecord`` (prefixed ``mia_``)."""
        values = asdict(self)
        values.pop("attack")
        return {f"mia_{key}": value for key, value in values.items()}


def per_example_loss(model: nn.Module, data: Tensors) -> np.ndarray:
    """Cross-entropy of ``model`` on every example of ``data`` (evaluation mode, no grad)."""
    x, y = data
    model.eval()
    with torch.no_grad():
        losses = nn.functional.cross_entropy(model(x), y, reduction="none")
    return losses.numpy()


def balanced_sample(
    members: Tensors, non_members: Tensors, *, seed: int
) -> tuple[Tensors, Tensors]:
    """As many members as non-members (the smaller count), drawn without replacement, so the
    AUC is not skewed by one side's size."""
    count = min(len(members[1]), len(non_members[1]))
    generator = torch.Generator().manual_seed(seed)

    def take(data: Tensors) -> Tensors:
        index = torch.randperm(len(data[1]), generator=generator)[:count]
        return data[0][index], data[1][index]

    return take(members), take(non_members)


def loss_threshold_audit(
    model: nn.Module, members: Tensors, non_members: Tensors
) -> MembershipAudit:
    """Run the loss-threshold attack on ``model``; raises :class:`TaskError` on an empty side."""
    if len(members[1]) == 0 or len(non_members[1]) == 0:
        raise TaskError("a membership audit needs at least one member and one non-member")
    scores = np.concatenate(
        [-per_example_loss(model, members), -per_example_loss(model, non_members)]
    )
    truth = np.concatenate([np.ones(len(members[1])), np.zeros(len(non_members[1]))])
    false_positive, true_positive, _ = roc_curve(truth, scores)
    return MembershipAudit(
        attack="loss-threshold",
        auc=float(roc_auc_score(truth, scores)),
        advantage=float(np.max(true_positive - false_positive)),
        members=len(members[1]),
        non_members=len(non_members[1]),
    )
