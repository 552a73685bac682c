"""Tests of benchmark ``async``: its registration, its arithmetic and a tiny simulator run."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from consortium_bench import asynchronous, cli


def test_async_is_registered() -> None:
    assert [b.name for b in cli.select("async")] == ["async"]
    run, table = cli.BENCHMARKS["async"].load()
    assert run is asynchronous.run and table is asynchronous.table


def test_doctests_pass() -> None:
    result = doctest.testmod(asynchronous, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.slow
def test_a_tiny_simulated_run_has_every_key(tmp_path: Path) -> None:
    report = asynchronous.run(
        tmp_path,
        mode="simulator",
        clients=3,
        stragglers=1,
        straggler_delay_s=0.3,
        rounds={"FedAvg": 1, "FedAsync": 2, "FedBuff": 1},
        buffer_size=2,
        target_accuracy=0.0,
    )
    assert report["mode"] == "simulator" and report["clients"] == 3
    assert set(report["strategies"]) == {"FedAvg", "FedAsync", "FedBuff"}
    for name, result in report["strategies"].items():
        assert set(result) >= {
            "curve",
            "updates",
            "rounds",
            "final_accuracy",
            "time_to_target_s",
            "speedup_vs_fedavg",
            "wall_s",
        }
        assert result["rounds"] == {"FedAvg": 1, "FedAsync": 2, "FedBuff": 1}[name]
        assert result["time_to_target_s"] == 0.0 and result["curve"][0][0] == 0.0
    assert report["strategies"]["FedAvg"]["updates"] == 3
    assert "FedBuff" in asynchronous.table(report)
