"""A party's own CSV table for a vertical job: read, aligned by PSI, trained; clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from consortium_tasks.errors import DatasetError
from consortium_tasks.fraud_vertical.data import party_table
from consortium_tasks.fraud_vertical.simulation import simulate_vertical


def _write(path: Path, config: dict, *, label: bool) -> Path:
    table = party_table(config)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", *table.column_names, *(["fraud"] if label else [])])
        for i, customer in enumerate(table.ids):
            extra = [int(table.labels[i])] if label and table.labels is not None else []
            writer.writerow([customer, *table.features[i].tolist(), *extra])
    return path


def test_own_csv_tables_align_and_train(tmp_path: Path) -> None:
    bank = _write(tmp_path / "bank.csv", {"party": "bank", "customers": 2000}, label=True)
    shop = _write(tmp_path / "shop.csv", {"party": "shop", "customers": 2000}, label=False)
    configs = [
        {"data-path": str(bank), "label-column": "fraud"},
        {"data-path": str(shop)},
    ]
    grid = simulate_vertical(configs, {"num-server-rounds": 1, "batch-size": 128})
    expected = set(party_table(configs[0]).ids) & set(party_table(configs[1]).ids)
    assert grid.round_metrics[1]["intersection_size"] == len(expected) > 0


@pytest.mark.parametrize(
    ("content", "config", "message"),
    [
        ("id,a\n1,2\n", {}, "has no column 'customer_id'"),
        ("customer_id,a\n1,x\n", {}, "row 2, column 'a': 'x' is not a number"),
        ("customer_id,a\n1,2\n1,3\n", {}, "duplicate IDs"),
        ("customer_id,a,fraud\n1,2,yes\n", {"label-column": "fraud"}, "only 0 and 1"),
        ("customer_id\n1\n", {}, "no feature columns"),
    ],
)
def test_bad_tables_are_refused_with_the_place(
    tmp_path: Path, content: str, config: dict, message: str
) -> None:
    path = tmp_path / "party.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        party_table({"data-path": str(path), **config})
