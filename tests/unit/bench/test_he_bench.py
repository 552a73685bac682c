"""``make bench BENCH=he`` on a tiny run: every key, finite positive ratios, a table."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

from consortium_bench import cli, he


def test_he_is_registered_and_part_of_all() -> None:
    assert [b.name for b in cli.select("he")] == ["he"]
    assert "he" in [b.name for b in cli.select("all")]
    run, table = cli.BENCHMARKS["he"].load()
    assert run is he.run and table is he.table


def test_doctests_pass() -> None:
    result = doctest.testmod(he)
    assert result.failed == 0 and result.attempted > 0


def _positive_finite(value: float) -> bool:
    return value > 0 and math.isfinite(value)


def test_a_tiny_run_reports_every_key(tmp_path: Path) -> None:
    report = he.run(
        tmp_path,
        rounds=1,
        participants=3,
        repeats=1,
        update_participants=2,
        update_scale=0.01,
        update_repeats=2,
    )
    assert {"machine", "tenseal_version", "settings", "cnn", "resnet18", "notes"} <= set(report)
    assert report["settings"]["coeff_mod_bit_sizes"] == [60, 40, 60]
    for part in ("cnn", "resnet18"):
        data = report[part]
        assert set(data["modes"]) == {"plain", "secagg+", "he-ckks"}
        assert _positive_finite(data["he_over_plain_x"])
        assert _positive_finite(data["he_over_secagg_x"])
        sizes = data["bytes_per_client"]
        assert _positive_finite(sizes["he_over_plain_x"])
        assert _positive_finite(sizes["he_over_secagg_x"])
        for mode in data["modes"].values():
            assert _positive_finite(mode["round_s"])
            assert mode["bytes_per_client"]["up"] > 0 and mode["bytes_per_client"]["down"] > 0
    cnn, resnet = report["cnn"], report["resnet18"]
    assert math.isfinite(cnn["accuracy_difference_points"])
    assert len(cnn["accuracy_difference_points_each"]) == 1
    assert 0 <= cnn["modes"]["he-ckks"]["accuracy"] <= 1
    assert resnet["values"] > 5_000 and resnet["ciphertexts_per_client"] >= 2
    assert all(len(m["round_s_repeats"]) == 2 for m in resnet["modes"].values())
    assert resnet["modes"]["he-ckks"]["max_abs_error"] < 1e-4
    assert resnet["modes"]["plain"]["max_abs_error"] < 1e-6
    assert "he/plain" in he.table(report)
