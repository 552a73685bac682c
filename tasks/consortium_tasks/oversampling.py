"""Local synthetic minority oversampling (SMOTE, from imbalanced-learn) for rare classes.

A participant whose data holds few examples of some classes can ask for SMOTE with its node
config (``oversample`` = ``smote``): a participant's choice about its own data, which the server
cannot set. Before each local training the classes it holds are filled up to its largest class
with synthetic examples, interpolated between an example and one of its nearest neighbours of
the same class (imbalanced-learn's ``SMOTE``). The synthetic examples never leave the
participant, and the update keeps the weight of the real examples.

A class with a single example has no neighbour to interpolate with and is left as it is; a class
the participant does not hold cannot be created. SMOTE is refused with DP-SGD: every synthetic
example mixes two real ones, so one person's data could appear in several examples and DP-SGD's
per-example guarantee would no longer be per person.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .errors import TaskError

__all__ = ["OVERSAMPLERS", "OVERSAMPLE_KEY", "oversample", "oversampling_method"]

OVERSAMPLE_KEY = "oversample"
OVERSAMPLERS = ("none", "smote")
MAX_NEIGHBOURS = 5


def oversampling_method(node_config: Mapping[str, Any]) -> str:
    """The node's ``oversample`` setting (``none`` when absent), checked.

    >>> oversampling_method({}), oversampling_method({"oversample": "SMOTE"})
    ('none', 'smote')
    """
    method = str(node_config.get(OVERSAMPLE_KEY, "none")).strip().lower()
    if method not in OVERSAMPLERS:
        raise TaskError(f"oversample must be one of {', '.join(OVERSAMPLERS)}, got {method!r}")
    return method


def oversample(
    x: torch.Tensor, y: torch.Tensor, *, method: str, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` with synthetic examples of the minority classes added (``method`` "smote"),
    or unchanged (``"none"``, or nothing to fill)."""
    if method == "none":
        return x, y
    if method != "smote":
        raise TaskError(f"oversample must be one of {', '.join(OVERSAMPLERS)}, got {method!r}")
    labels = y.numpy()
    classes, counts = np.unique(labels, return_counts=True)
    largest = int(counts.max())
    targets = {
        int(label): largest
        for label, count in zip(classes, counts, strict=True)
        if 2 <= count < largest
    }
    if not targets:
        return x, y
    from imblearn.over_sampling import SMOTE  # imported only by participants who ask for it

    neighbours = min(MAX_NEIGHBOURS, min(int(c) for c in counts if c >= 2) - 1)
    smote = SMOTE(sampling_strategy=targets, k_neighbors=neighbours, random_state=seed)
    flat = x.reshape(len(x), -1).numpy()
    new_x, new_y = smote.fit_resample(flat, labels)
    return (
        torch.from_numpy(np.ascontiguousarray(new_x, dtype=np.float32)).reshape(-1, *x.shape[1:]),
        torch.from_numpy(np.asarray(new_y, dtype=np.int64)),
    )
