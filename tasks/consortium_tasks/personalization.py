"""Personalization and quality-aware weighting: what each participant measures on its own data.

Run config keys (job settings, all optional):

- ``personalize-epochs`` (int, default 0: off): after the last round every participant
  fine-tunes the final global model for that many epochs on its own training data and reports
  the accuracy of the global and of its personalized model on a slice of its own data that it
  never trained on. The personalized model stays with the participant; only the two accuracies
  and the slice's size leave.
- ``weighting`` (``examples``, the default, or ``quality``): with ``quality`` each update weighs
  its example count times the accuracy of the participant's trained model on that same local
  slice (``quality-weight``), so a participant whose data its own model cannot predict (noisy
  labels, a broken pipeline) counts for less. The accuracy is the participant's own report: a
  participant who lies can raise its weight, so pair it with a robust strategy where
  participants are not trusted.
- ``local-test-fraction`` (default 0.2): the share of each participant's data held out as that
  slice, chosen by the participant's seed, whenever either option above is on.

>>> settings = PersonalizationSettings.from_run_config({"personalize-epochs": 2})
>>> settings.epochs, settings.quality_weighting, settings.holds_out
(2, False, True)
>>> PersonalizationSettings.from_run_config({}).holds_out
False
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import TaskError
from .training import evaluate_model, train_model

__all__ = [
    "PERSONALIZE_ACTION",
    "QUALITY_WEIGHT_KEY",
    "PersonalizationSettings",
    "local_split",
    "participant_seed",
    "personalize",
    "quality_weight",
    "split_for_job",
]

PERSONALIZE_ACTION = "personalize"
QUALITY_WEIGHT_KEY = "quality-weight"
WEIGHTINGS = ("examples", "quality")
QUALITY_FLOOR = 0.01
Tensors = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class PersonalizationSettings:
    """A job's personalization and weighting settings (see the module's docstring)."""

    epochs: int = 0
    quality_weighting: bool = False
    local_test_fraction: float = 0.2

    @property
    def holds_out(self) -> bool:
        """Whether participants keep a local slice out of training."""
        return self.epochs > 0 or self.quality_weighting

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> PersonalizationSettings:
        """Read and check the settings; a bad value raises :class:`TaskError` saying which."""
        epochs = _number(run_config, "personalize-epochs", 0)
        if not float(epochs).is_integer() or not 0 <= epochs <= 100:
            raise TaskError(f"personalize-epochs must be an integer in [0, 100], got {epochs!r}")
        weighting = str(run_config.get("weighting", "examples")).strip().lower()
        if weighting not in WEIGHTINGS:
            raise TaskError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        fraction = _number(run_config, "local-test-fraction", 0.2)
        if not 0.0 < fraction < 1.0:
            raise TaskError(f"local-test-fraction must be in (0, 1), got {fraction!r}")
        return cls(int(epochs), weighting == "quality", float(fraction))


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise TaskError(f"{key} must be a number, got {value!r}") from None


def local_split(
    x: torch.Tensor, y: torch.Tensor, *, fraction: float, seed: int
) -> tuple[Tensors, Tensors]:
    """``((train_x, train_y), (test_x, test_y))``: a seeded split with ``fraction`` of every
    class the participant holds in the test slice (at least one example of a class with two or
    more), so the slice looks like the participant's data.

    >>> x, y = torch.arange(10.0).reshape(10, 1), torch.tensor([0] * 6 + [1] * 4)
    >>> (tx, ty), (vx, vy) = local_split(x, y, fraction=0.25, seed=0)
    >>> len(ty), len(vy), sorted(vy.tolist())
    (7, 3, [0, 0, 1])
    """
    generator = torch.Generator().manual_seed(seed)
    test_parts = []
    for label in torch.unique(y):
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        take = 0 if len(members) < 2 else max(1, round(fraction * len(members)))
        test_parts.append(members[:take])
    test_index = torch.sort(torch.cat(test_parts)).values
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[test_index] = False
    return (x[mask], y[mask]), (x[test_index], y[test_index])


def personalize(
    model: nn.Module,
    train: Tensors,
    test: Tensors,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    """Fine-tune a copy of the global ``model`` on ``train``; the accuracy of the global and of
    the personalized model on ``test`` (``model`` itself is left as it is)."""
    if len(test[0]) == 0:
        raise TaskError("this participant's local test slice is empty: it holds too few examples")
    global_score = evaluate_model(model, *test)
    personal = copy.deepcopy(model)
    train_model(
        personal,
        *train,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
    )
    personal_score = evaluate_model(personal, *test)
    return {
        "personal_global_accuracy": global_score.accuracy,
        "personal_accuracy": personal_score.accuracy,
        "personal_global_loss": global_score.loss,
        "personal_loss": personal_score.loss,
        "personal_test_examples": float(len(test[0])),
    }


def participant_seed(node_config: Mapping[str, Any]) -> int:
    """A seed that stays the same for a participant through a job (its local slice must not
    change between rounds): from its simulated partition, else from its data's path.

    >>> participant_seed({"seed": 42, "partition-id": 3}) == participant_seed({"seed": 42,
    ...     "partition-id": 3}) != participant_seed({"seed": 42, "partition-id": 4})
    True
    """
    identity = f"{node_config.get('seed', 42)}/{node_config.get('partition-id', '')}"
    identity += f"/{node_config.get('data-path', '')}"
    return zlib.crc32(identity.encode())


def split_for_job(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    run_config: Mapping[str, Any],
    node_config: Mapping[str, Any],
) -> tuple[Tensors, Tensors | None]:
    """The participant's training data and, when the job holds a local slice out, that slice
    (else ``None``)."""
    settings = PersonalizationSettings.from_run_config(run_config)
    if not settings.holds_out:
        return (x, y), None
    return local_split(
        x, y, fraction=settings.local_test_fraction, seed=participant_seed(node_config)
    )


def quality_weight(model: nn.Module, test: Tensors, *, num_examples: int) -> float:
    """``num_examples`` times the trained model's accuracy on the local slice (at least 1% of
    it, so a round where every model scores 0 still has weights that add up)."""
    return num_examples * max(evaluate_model(model, *test).accuracy, QUALITY_FLOOR)
