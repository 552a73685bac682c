"""Early stopping on the held-out loss, a job option (and a defence against membership
inference: fewer rounds fit the training data less closely).

Run config keys: ``early-stopping-patience`` (rounds without improvement before the job ends;
off when absent) and ``early-stopping-min-delta`` (the smallest drop in loss that counts as an
improvement, default 0.0). The job keeps the last round's model.

>>> stopper = EarlyStopping.from_run_config({"early-stopping-patience": 2})
>>> for server_round, loss in enumerate([1.0, 0.8, 0.81, 0.82], start=1):
...     stopper.check(server_round, loss)
Traceback (most recent call last):
...
consortium_core.rounds.StopTraining: early stopping after round 4: the held-out loss has not ...
>>> EarlyStopping.from_run_config({}) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consortium_core.rounds import StopTraining

from .errors import TaskError

__all__ = ["EarlyStopping"]


@dataclass
class EarlyStopping:
    """Tracks the best held-out loss; :meth:`check` raises :class:`StopTraining` when it has not
    improved by ``min_delta`` for ``patience`` rounds."""

    patience: int
    min_delta: float = 0.0
    best_loss: float = math.inf
    best_round: int = 0

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> EarlyStopping | None:
        """The job's early stopping, or None when ``early-stopping-patience`` is not set."""
        patience = run_config.get("early-stopping-patience")
        if patience is None:
            return None
        min_delta = run_config.get("early-stopping-min-delta", 0.0)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise TaskError(f"early-stopping-patience must be an integer >= 1, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, int | float) or min_delta < 0:
            raise TaskError(f"early-stopping-min-delta must be a number >= 0, got {min_delta!r}")
        return cls(patience=patience, min_delta=float(min_delta))

    def check(self, server_round: int, loss: float) -> None:
        """Record round ``server_round``'s held-out loss (round 0 counts as the start)."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_round = loss, server_round
            return
        if server_round - self.best_round >= self.patience:
            raise StopTraining(
                f"early stopping after round {server_round}: the held-out loss has not "
                f"improved by {self.min_delta:g} for {self.patience} round(s) (best "
                f"{self.best_loss:.4g} at round {self.best_round})"
            )
