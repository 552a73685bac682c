"""``make bench BENCH=scale`` on a tiny federation, without Flower's Ray simulation."""

from __future__ import annotations

from pathlib import Path

from consortium_bench.scale import GOALS, run, table


def test_a_tiny_run_reports_every_key(tmp_path: Path) -> None:
    report = run(tmp_path, num_clients=40, workers=1, include_flower=False)
    assert report["status"] == "ok", report.get("output_tail")
    assert report["num_clients"] == 40 and report["calls"] == 40
    assert report["failures"] == {}
    assert 0 < report["seconds_10k"] < report["process_seconds"]
    assert 0 < report["peak_rss_gb"] < 8 and report["processes"] >= 2  # the child and a worker
    assert 0.0 <= report["accuracy_before"] <= 1.0 and 0.0 <= report["accuracy_after"] <= 1.0
    assert report["goals_met"] == {
        "seconds_10k": report["seconds_10k"] <= GOALS["seconds_10k"],
        "peak_rss_gb": report["peak_rss_gb"] <= GOALS["peak_rss_gb"],
    }
    assert report["flower"] == {"included": False, "unavailable": None, "per_n": []}
    assert "Consortium virtual Grid" in table(report)
