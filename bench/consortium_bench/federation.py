"""Constructed federations for the contribution estimators: softmax regression on scikit-learn's
digits, trained locally by each participant from the round's starting model, scored on a
validation set no participant holds.

A participant may be given *shuffled* labels (its update is noise to everyone else) or be a
*copy* of another (the same data, hence the same update): the estimators' tests and the
``shapley`` benchmark build federations with known answers from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from consortium_core.contribution import CountingUtility, coalition_model
from sklearn.datasets import load_digits

__all__ = ["Federation", "Round", "build_federation"]

CLASSES = 10
Model = list[np.ndarray]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def train(model: Model, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float) -> Model:
    """Full-batch gradient descent on the cross-entropy, from ``model``."""
    weights, bias = (layer.copy() for layer in model)
    onehot = np.eye(CLASSES)[y]
    for _ in range(epochs):
        probs = _softmax(x @ weights + bias)
        grad = (probs - onehot) / len(x)
        weights -= lr * (x.T @ grad)
        bias -= lr * grad.sum(axis=0)
    return [weights, bias]


def accuracy(model: Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(((x @ model[0] + model[1]).argmax(axis=1) == y).mean())


@dataclass
class Round:
    """One round: its starting model, each participant's trained model and sample count."""

    start: Model
    updates: list[Model]
    weights: list[float]
    validation: tuple[np.ndarray, np.ndarray]
    evaluations: list[frozenset[int]] = field(default_factory=list)

    def utility(self) -> CountingUtility:
        """Validation accuracy of each coalition's FedAvg model (counted, memoized)."""
        x, y = self.validation

        def v(coalition: frozenset[int]) -> float:
            model = coalition_model(self.start, self.updates, self.weights, coalition)
            return accuracy(model, x, y)

        return CountingUtility(v, len(self.updates))

    def fedavg(self) -> Model:
        return coalition_model(self.start, self.updates, self.weights, range(len(self.updates)))


@dataclass
class Federation:
    """Participants' data and a validation set; :meth:`round` trains everyone from a model."""

    data: list[tuple[np.ndarray, np.ndarray]]
    validation: tuple[np.ndarray, np.ndarray]
    epochs: int = 30
    lr: float = 0.5

    def initial(self) -> Model:
        features = self.validation[0].shape[1]
        return [np.zeros((features, CLASSES)), np.zeros(CLASSES)]

    def round(self, start: Model) -> Round:
        updates = [train(start, x, y, epochs=self.epochs, lr=self.lr) for x, y in self.data]
        return Round(start, updates, [float(len(y)) for _, y in self.data], self.validation)

    def rounds(self, count: int) -> list[Round]:
        """``count`` FedAvg rounds from the initial model."""
        done: list[Round] = []
        model = self.initial()
        for _ in range(count):
            done.append(self.round(model))
            model = done[-1].fedavg()
        return done


def build_federation(
    sizes: Sequence[int],
    *,
    shuffled: Sequence[int] = (),
    copies: dict[int, int] | None = None,
    label_noise: Sequence[float] | None = None,
    seed: int = 0,
    validation_size: int = 400,
) -> Federation:
    """Participants with ``sizes[i]`` examples drawn without overlap; those in ``shuffled``
    have their labels permuted; ``copies[j] = i`` makes participant ``j`` hold ``i``'s data;
    ``label_noise[i]`` is the share of participant ``i``'s labels replaced by random classes
    (graded quality, so that the true ranking is known)."""
    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    order = np.random.default_rng(seed).permutation(len(y))
    validation = order[:validation_size]
    pool = order[validation_size:]
    rng = np.random.default_rng(seed + 1)
    data: list[tuple[np.ndarray, np.ndarray]] = []
    taken = 0
    for i, size in enumerate(sizes):
        if copies and i in copies:
            data.append(data[copies[i]])
            continue
        picked = pool[taken : taken + size]
        if len(picked) < size:
            raise ValueError(f"not enough digits for participant sizes {list(sizes)}")
        taken += size
        labels = y[picked].copy()
        if i in shuffled:
            labels = rng.permutation(labels)
        if label_noise is not None and label_noise[i] > 0:
            noisy = rng.random(len(labels)) < label_noise[i]
            labels[noisy] = rng.integers(0, CLASSES, size=int(noisy.sum()))
        data.append((x[picked], labels))
    return Federation(data, (x[validation], y[validation]))
