"""What one party keeps during a vertical job: its table, the aligned rows, its models and the
count of releases behind its epsilon. It stays in the party's process and never leaves."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from consortium_core.vertical import VerticalSettings, aligned_order, held_out_mask

from ..errors import TaskError
from .data import PartyTable
from .models import BottomModel, TopModel, seeded

__all__ = ["PartyState", "forget", "state_of"]


@dataclass
class PartyState:
    """One party's state for one run."""

    table: PartyTable
    aligned: list[str]  # the IDs the intersections so far left; starts as every ID
    psi_key: bytes | None = None
    psi_items: list[str] = field(default_factory=list)
    train_x: torch.Tensor | None = None
    test_x: torch.Tensor | None = None
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    bottom: BottomModel | None = None
    top: TopModel | None = None
    optimizer: torch.optim.Optimizer | None = None
    feature_parties: int = 0
    pending: torch.Tensor | None = None  # the clipped embedding of the batch in flight
    train_releases: np.ndarray | None = None  # per train row: embeddings or gradients released
    test_releases: np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def prepare(self, settings: VerticalSettings, *, salt: str, feature_parties: int) -> None:
        """Order the aligned rows, split them, and build this party's models."""
        self.feature_parties = feature_parties
        index = {customer: row for row, customer in enumerate(self.table.ids)}
        ordered = aligned_order(self.aligned)
        if len(set(ordered)) != len(ordered):
            raise TaskError("the aligned customer IDs hold duplicates")
        rows = np.array([index[c] for c in ordered], dtype=np.int64)
        held_out = held_out_mask(ordered, salt=salt, test_fraction=settings.test_fraction)
        features = torch.from_numpy(self.table.features[rows])
        self.train_x, self.test_x = features[~held_out], features[held_out]
        self.train_releases = np.zeros(len(self.train_x), dtype=np.int64)
        self.test_releases = np.zeros(len(self.test_x), dtype=np.int64)
        width = self.table.features.shape[1]
        self.bottom = seeded(lambda: BottomModel(width), settings.seed + feature_parties)
        parameters = list(self.bottom.parameters())
        if self.table.labels is not None:
            labels = self.table.labels[rows]
            self.train_y, self.test_y = labels[~held_out], labels[held_out]
            self.top = seeded(lambda: TopModel(feature_parties + 1), settings.seed)
            parameters += list(self.top.parameters())
        self.optimizer = torch.optim.Adam(parameters, lr=settings.learning_rate)


_STATES: dict[tuple[int, int], PartyState] = {}
_LOCK = threading.Lock()


def state_of(run_id: int, node_id: int, table: PartyTable | None = None) -> PartyState:
    """The party's state for ``run_id``; created from ``table`` on the first message."""
    with _LOCK:
        state = _STATES.get((run_id, node_id))
        if state is None:
            if table is None:
                raise TaskError(
                    "this party holds no state for the job (it restarted mid-job?): "
                    "vertical jobs start again from private set intersection"
                )
            state = _STATES[(run_id, node_id)] = PartyState(table=table, aligned=list(table.ids))
        return state


def forget(run_id: int, node_id: int) -> None:
    """Drop the party's state for ``run_id`` (the job ended)."""
    with _LOCK:
        _STATES.pop((run_id, node_id), None)
