"""A party's own table for a vertical job: a CSV file with an ID column, numeric feature columns
and, for the label holder only, a 0/1 label column.

Node config: ``data-path`` (the file), ``id-column`` (default ``customer_id``), ``label-column``
(set only on the label holder; default none), ``party`` (a name for logs, default the file's
stem). Features are standardized on the party's own table.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .data import PartyTable, standardize

__all__ = ["load_party_csv"]

DEFAULT_ID_COLUMN = "customer_id"


def load_party_csv(node_config: Mapping[str, Any]) -> PartyTable:
    """Read the party's CSV file; every error names the file, the row and the column."""
    path = Path(str(node_config["data-path"]))
    id_column = str(node_config.get("id-column", DEFAULT_ID_COLUMN))
    label_column = node_config.get("label-column")
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path} has no rows")
    header = list(rows[0])
    for needed in [id_column, *([str(label_column)] if label_column else [])]:
        if needed not in header:
            raise DatasetError(f"{path} has no column {needed!r}; it has {', '.join(header)}")
    names = tuple(c for c in header if c not in (id_column, label_column))
    if not names:
        raise DatasetError(f"{path} has no feature columns besides {id_column!r}")
    ids = [row[id_column] for row in rows]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: column {id_column!r} holds duplicate IDs")
    features = np.empty((len(rows), len(names)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            try:
                features[i, j] = float(row[name])
            except (TypeError, ValueError):
                raise DatasetError(
                    f"{path}, row {i + 2}, column {name!r}: {row[name]!r} is not a number"
                ) from None
    labels = None
    if label_column:
        raw = [row[str(label_column)] for row in rows]
        if not set(raw) <= {"0", "1"}:
            raise DatasetError(f"{path}: column {label_column!r} must hold only 0 and 1")
        labels = np.array([int(v) for v in raw], dtype=np.int64)
    return PartyTable(
        party=str(node_config.get("party", path.stem)),
        ids=ids,
        column_names=names,
        features=standardize(features),
        labels=labels,
    )
