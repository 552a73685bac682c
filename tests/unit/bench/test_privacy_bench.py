"""Tests of benchmark ``privacy``: its arithmetic, its wiring in the CLI, and (slow) a short run."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from consortium_bench import cli, privacy
from consortium_core.privacy import composed_epsilon


def test_privacy_is_registered_and_part_of_all() -> None:
    assert [b.name for b in cli.select("privacy")] == ["privacy"]
    assert "privacy" in [b.name for b in cli.select("all")]
    run, table = cli.BENCHMARKS["privacy"].load()
    assert run is privacy.run and table is privacy.table


def test_overheads_are_ratios_of_medians() -> None:
    timings = {"plain": [0.010, 0.011, 0.030], "hooks": [0.02, 0.022, 0.5], "ghost": [0.011]}
    ratios = privacy.overheads(timings)
    assert ratios == pytest.approx({"hooks": 2.0, "ghost": 1.0})


def test_a_mode_that_disagrees_with_hooks_is_never_the_fastest_correct() -> None:
    overhead_x = {"hooks": 3.0, "ew": 2.0, "functorch": 4.0, "ghost": 1.1}
    diffs = {"hooks": 0.0, "ew": 0.0, "functorch": 0.0, "ghost": 1e-3}
    assert privacy.fastest_correct_mode(overhead_x, diffs, scale=1.0) == "ew"
    assert privacy.fastest_correct_mode(overhead_x, {**diffs, "ghost": 1e-8}, scale=1.0) == "ghost"


def test_each_participant_is_composed_over_its_own_rounds() -> None:
    def report(node: int, sigma: float, steps: int) -> tuple[int, dict[str, Any]]:
        metrics = {"dp_noise_multiplier": sigma, "dp_sample_rate": 1.0, "dp_steps": steps}
        return node, {**metrics, "dp_delta": 1e-5, "train_loss": 0.1}

    reports = [report(1, 8.0, 2), report(2, 4.0, 2), report(1, 8.0, 2), report(2, 4.0, 2)]
    expected = composed_epsilon(accountant="rdp", history=[(4.0, 1.0, 4)], delta=1e-5)
    assert privacy.max_participant_epsilon(reports, accountant="rdp") == pytest.approx(expected)
    plain = [(1, {"train_loss": 0.1})]
    assert privacy.max_participant_epsilon(plain, accountant="prv") == 0.0


def test_goals_are_met_at_most_or_at_least() -> None:
    met = privacy._goals_met(
        {"dp_overhead_x": 2.5, "accuracy_at_eps8": 0.96, "accuracy_at_eps3": 0.9}
    )
    assert met == {"dp_overhead_x": False, "accuracy_at_eps8": True, "accuracy_at_eps3": False}


def test_doctests_pass() -> None:
    result = doctest.testmod(privacy, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.slow
def test_a_short_run_reports_every_key_and_stays_within_its_budget(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        report = privacy.run(tmp_path, seeds=[42], epsilons=[8.0], repeats=1, cnn_repeats=1)
    finally:
        torch.set_num_threads(threads)
    json.dumps(report)  # what the CLI writes
    for key in (
        "dp_overhead_x",
        "overhead_x_per_mode",
        "accuracy_at_eps8",
        "accuracy_at_eps8_public_pretrained",
        "recipe",
        "seeds",
        "delta",
        "max_epsilon_spent",
    ):
        assert key in report
    assert report["default_grad_sample_mode"] in report["overhead_x_per_mode"]
    assert max(report["grad_sample_max_abs_diff"].values()) < 1e-4
    spent = report["max_epsilon_spent"]["without_public"]
    assert spent["within_target"] and 0.99 * 8.0 <= spent["by_target"]["8"]["rdp"] <= 8.0
    assert report["curve"]["8"]["accuracy"] > 0.8 and "no_dp" in report["curve"]
    assert "public_pretrained" in report["definitions"]
    assert "epsilon" in privacy.table(report)
