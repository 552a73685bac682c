"""``make bench BENCH=shapley`` on a short run: every key, honest goal flags, a table."""

from __future__ import annotations

from pathlib import Path

from consortium_bench.shapley import GOALS, SIZES, run, table


def test_a_short_run_reports_every_key(tmp_path: Path) -> None:
    report = run(tmp_path, rounds=2)
    assert 0.0 < report["eval_fraction"] <= 1.0
    assert -1.0 <= report["spearman_vs_exact"] <= 1.0
    assert report["goals_met"] == {
        "spearman_vs_exact": report["spearman_vs_exact"] >= GOALS["spearman_vs_exact"],
        "eval_fraction": report["eval_fraction"] <= GOALS["eval_fraction"],
    }
    assert [r["participants"] for r in report["per_size"]] == list(SIZES)
    for size in report["per_size"]:
        n = size["participants"]
        assert size["eval_fraction"]["exact"] == 1.0
        assert size["eval_fraction"]["loo"] == (n + 2) / 2**n
        assert sum(size["values"]["exact"]) != 0.0
    assert report["round_seconds"] > 0 and report["gtg_seconds_per_round"] > 0
    assert "spearman_vs_exact" in table(report)
