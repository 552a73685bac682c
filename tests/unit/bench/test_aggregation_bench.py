"""``make bench BENCH=aggregation`` on a tiny size: every key, honest goal flags, a table."""

from __future__ import annotations

from pathlib import Path

from consortium_bench.aggregation import GOALS, run, table


def test_a_tiny_run_reports_every_key(tmp_path: Path) -> None:
    report = run(tmp_path, clients=12, params=20_000, repeats=1)
    rates = [k for k in report if k.endswith("_gb_s")]
    assert {
        "fedavg_gb_s",
        "median_gb_s",
        "krum_gb_s",
        "stack_gb_s",
        "naive_fedavg_gb_s",
        "np_median_gb_s",
        "flower_fedavg_gb_s",
        "flower_median_gb_s",
        "flower_krum_gb_s",
        "trimmed_mean_gb_s",
        "bulyan_gb_s",
    } <= set(rates)
    assert all(report[k] > 0 for k in rates)
    assert {k: g["met"] for k, g in report["goals"].items()} == {
        k: report[k] >= v for k, v in GOALS.items()
    }
    assert "fedavg_gb_s" in table(report)
