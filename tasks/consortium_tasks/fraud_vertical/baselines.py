"""What a vertical model is measured against, computed where every table is known (a
simulation, the demo): each party's columns alone, and every column pooled in one place.

No real federation can compute these: the shop has no labels and nobody may pool the columns.
They use the same aligned rows, the same split, the same architecture and schedule as the job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from consortium_core.vertical import VerticalSettings, aligned_order, held_out_mask

from ..errors import TaskError
from .data import PartyTable, party_table
from .models import auc_of, train_alone

__all__ = ["vertical_baselines"]


def _aligned_rows(table: PartyTable, ordered: list[str]) -> np.ndarray:
    index = {customer: row for row, customer in enumerate(table.ids)}
    return np.array([index[c] for c in ordered], dtype=np.int64)


def vertical_baselines(
    node_configs: Sequence[Mapping[str, Any]], settings: VerticalSettings, *, salt: str
) -> dict[str, Any]:
    """``{"intersection_size", "alone": {party: auc}, "centralized": auc}`` on the job's split
    (``salt`` is the job id on the platform, ``run-<id>`` in an in-process run)."""
    tables = [party_table(config) for config in node_configs]
    holders = [t for t in tables if t.labels is not None]
    if len(holders) != 1:
        raise TaskError(f"baselines need exactly one label holder, got {len(holders)}")
    ordered = aligned_order(set.intersection(*(set(t.ids) for t in tables)))
    held_out = held_out_mask(ordered, salt=salt, test_fraction=settings.test_fraction)
    label_rows = _aligned_rows(holders[0], ordered)
    assert holders[0].labels is not None
    labels = holders[0].labels[label_rows]
    columns = {t.party: t.features[_aligned_rows(t, ordered)] for t in tables}

    def auc_on(features: np.ndarray) -> float:
        scores = train_alone(
            features[~held_out],
            labels[~held_out],
            features[held_out],
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            clip_norm=settings.embedding.clip_norm,
            seed=settings.seed,
        )
        return auc_of(labels[held_out], scores)

    return {
        "intersection_size": len(ordered),
        "alone": {party: auc_on(features) for party, features in columns.items()},
        "centralized": auc_on(np.hstack(list(columns.values()))),
    }
