"""A coalition's model from a round's updates: what FedAvg would have built from them alone.

``updates[i]`` is participant ``i``'s model after local training (a list of arrays, as Flower's
ArrayRecord holds them) and ``weights[i]`` its sample count; the empty coalition keeps the
round's starting model.

>>> import numpy as np
>>> start = [np.zeros(2)]
>>> updates = [[np.array([1.0, 1.0])], [np.array([4.0, 0.0])]]
>>> coalition_model(start, updates, [1, 3], frozenset({0, 1}))[0].tolist()
[3.25, 0.25]
>>> coalition_model(start, updates, [1, 3], frozenset())[0].tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ConsortiumError

__all__ = ["coalition_model", "weighted_average"]

Arrays = Sequence[np.ndarray]


def weighted_average(models: Sequence[Arrays], weights: Sequence[float]) -> list[np.ndarray]:
    """Layer by layer, sum of ``weights[k] * models[k]`` over the sum of the weights."""
    if not models:
        raise ConsortiumError("cannot average no models")
    total = float(sum(weights))
    if total <= 0:
        raise ConsortiumError(f"weights must sum to more than 0, got {total}")
    layers = len(models[0])
    if any(len(model) != layers for model in models):
        raise ConsortiumError("models to average have different numbers of layers")
    averaged = []
    for layer in range(layers):
        acc = np.zeros_like(models[0][layer], dtype=np.float64)
        for model, weight in zip(models, weights, strict=True):
            if model[layer].shape != acc.shape:
                raise ConsortiumError(
                    f"layer {layer}: shape {model[layer].shape} differs from {acc.shape}"
                )
            acc += (weight / total) * model[layer]
        averaged.append(acc.astype(models[0][layer].dtype, copy=False))
    return averaged


def coalition_model(
    start: Arrays,
    updates: Sequence[Arrays],
    weights: Sequence[float],
    coalition: Iterable[int],
) -> list[np.ndarray]:
    """The model FedAvg builds from the coalition's updates; ``start`` for the empty one."""
    members = sorted(coalition)
    if not members:
        return [np.array(layer, copy=True) for layer in start]
    return weighted_average([updates[i] for i in members], [weights[i] for i in members])
