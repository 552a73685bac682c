"""``make bench BENCH=compression`` on a tiny run: every key, ratios against ``none``."""

from __future__ import annotations

from pathlib import Path

from consortium_bench.cli import BENCHMARKS
from consortium_bench.compression import run, table


def test_a_tiny_run_reports_every_key(tmp_path: Path) -> None:
    report = run(tmp_path, rounds=1, codecs=("none", "q8"))
    assert {"task", "participants", "rounds", "model_values", "codecs", "load_average"} <= set(
        report
    )
    none, q8 = report["codecs"]
    for result in (none, q8):
        assert {
            "codec",
            "train_up_bytes",
            "train_down_bytes",
            "evaluate_down_bytes",
            "train_up_ratio",
            "train_down_ratio",
            "final_accuracy",
            "accuracy_cost",
            "encode_ms_model",
            "decode_ms_model",
            "encode_ms_1m",
            "decode_ms_1m",
        } <= set(result)
    assert none["accuracy_cost"] == 0.0 and none["train_up_ratio"] == 1.0
    assert q8["train_up_ratio"] > 3 and q8["train_down_ratio"] > 3
    assert "q8" in table(report)
    assert "compression" in BENCHMARKS
