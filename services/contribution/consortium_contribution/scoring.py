"""One round's contributions from what the coordinator stored.

The round's starting model is the previous round's checkpoint; each participant's trained
model is in the updates bucket with its sample count in the safetensors metadata. A
coalition's model is their FedAvg (:func:`consortium_core.contribution.coalition_model`), scored
like the round's global model: accuracy on the task's held-out set. So ``v(everyone)`` is the
round's reported accuracy and ``v(nobody)`` the previous round's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from consortium_core.contribution import ContributionResult, CountingUtility, estimate
from consortium_core.contribution.coalitions import coalition_model
from consortium_core.errors import ConsortiumError
from consortium_tasks.data import load_test_set
from consortium_tasks.registry import get_task, load_app
from consortium_tasks.training import evaluate_model
from safetensors.numpy import load

__all__ = ["RoundScore", "StoredModel", "TaskEvaluator", "read_model", "score_round"]


@dataclass(frozen=True)
class StoredModel:
    """A model read back from safetensors: its arrays in file order and its metadata."""

    arrays: dict[str, np.ndarray]
    metadata: dict[str, str]

    @property
    def num_examples(self) -> int:
        return int(self.metadata.get("num-examples", "0"))


def read_model(data: bytes) -> StoredModel:
    """Arrays and metadata of safetensors bytes; a clear error for anything else."""
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        arrays = load(data)
    except Exception as exc:
        raise ConsortiumError(f"not a safetensors model: {exc}") from exc
    ordered = {key: arrays[key] for key in header if key != "__metadata__"}
    return StoredModel(ordered, dict(header.get("__metadata__") or {}))


class TaskEvaluator:
    """Accuracy of a model's arrays on a built-in task's held-out set (as the ServerApp
    scores the global model).

    A model made of fixed ``features`` (no weights: nothing a participant trains) and a
    ``classifier`` has its features of the held-out set computed once: every coalition then
    costs only the classifier. The shortcut is taken only after it gave the same logits as
    the whole model.
    """

    def __init__(self, task: str) -> None:
        spec = get_task(task)
        if spec.model is None:
            raise ConsortiumError(f"task {task} has no built-in model to score coalitions with")
        self.task = task
        self._model = load_app(spec.model)()
        self._x, self._y = load_test_set(task)
        self._head, self._inputs = self._fixed_features()

    def _fixed_features(self) -> tuple[torch.nn.Module, torch.Tensor]:
        model = self._model
        features = getattr(model, "features", None)
        head = getattr(model, "classifier", None)
        whole = (model, self._x)
        if not isinstance(features, torch.nn.Module) or not isinstance(head, torch.nn.Module):
            return whole
        if features.state_dict():
            return whole  # the features have weights: they change with every update
        model.eval()
        with torch.no_grad():
            for parameter in head.parameters():  # not all zero, so that the check can fail
                torch.nn.init.normal_(parameter)
            inputs = features(self._x)
            same = torch.allclose(head(inputs), model(self._x), atol=1e-5)
        return (head, inputs) if same else whole

    @property
    def caches_features(self) -> bool:
        """Whether coalitions are scored on features computed once."""
        return self._head is not self._model

    @property
    def examples(self) -> int:
        """Size of the held-out set (one example is ``1 / examples`` of accuracy)."""
        return len(self._y)

    def accuracy(self, arrays: Mapping[str, np.ndarray]) -> float:
        state = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in arrays.items()}
        self._model.load_state_dict(state)
        with torch.no_grad():
            return evaluate_model(self._head, self._inputs, self._y).accuracy


@dataclass(frozen=True)
class RoundScore:
    """A round's contributions by participant, and what computing them cost."""

    participants: tuple[str, ...]
    result: ContributionResult
    seconds: float

    @property
    def values(self) -> dict[str, float]:
        return dict(zip(self.participants, self.result.values, strict=True))


def score_round(
    evaluator: TaskEvaluator,
    start: bytes,
    updates: Mapping[str, bytes],
    *,
    method: str,
    seed: int = 0,
) -> RoundScore:
    """Score one round: ``start`` is the previous checkpoint, ``updates`` each participant's
    stored model (safetensors bytes)."""
    started = time.perf_counter()
    if not updates:
        raise ConsortiumError("a round without updates has nothing to score")
    base = read_model(start)
    keys = list(base.arrays)
    participants = tuple(sorted(updates))
    models, weights = [], []
    for participant in participants:
        stored = read_model(updates[participant])
        if list(stored.arrays) != keys:
            raise ConsortiumError(f"the update of {participant} has other layers than the model")
        if stored.num_examples <= 0:
            raise ConsortiumError(f"the update of {participant} has no sample count")
        models.append([stored.arrays[k] for k in keys])
        weights.append(float(stored.num_examples))
    start_arrays = [base.arrays[k] for k in keys]

    def utility(coalition: frozenset[int]) -> float:
        model = coalition_model(start_arrays, models, weights, coalition)
        return evaluator.accuracy(dict(zip(keys, model, strict=True)))

    result = estimate(method, CountingUtility(utility, len(participants)), seed=seed)
    return RoundScore(participants, result, time.perf_counter() - started)
