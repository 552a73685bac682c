"""The fraud scenario's vertical job, every party in this process over Flower messages."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.vertical import VerticalSettings, VerticalSettingsError, release_epsilon
from consortium_tasks.errors import TaskError
from consortium_tasks.fraud_vertical.baselines import vertical_baselines
from consortium_tasks.fraud_vertical.data import party_table
from consortium_tasks.fraud_vertical.simulation import simulate_vertical

BANK, SHOP = {"party": "bank"}, {"party": "shop"}


def test_the_vertical_model_beats_each_party_alone() -> None:
    run_config = {"num-server-rounds": 8}
    grid = simulate_vertical([BANK, SHOP], run_config)
    final = grid.round_metrics[8]
    settings = VerticalSettings.from_run_config(run_config)
    baselines = vertical_baselines([BANK, SHOP], settings, salt="run-1")
    assert final["intersection_size"] == baselines["intersection_size"]
    best_alone = max(baselines["alone"].values())
    assert final["auc"] > best_alone + 0.02, (final, baselines)
    # the label holder's own baseline, computed by the label holder, agrees with the simulation
    assert final["label_holder_alone_auc"] == pytest.approx(baselines["alone"]["bank"], abs=0.02)
    # what the epsilons say is what the accountant gives for 8 releases of every row
    expected = release_epsilon(noise_multiplier=0.3, releases=8, delta=1e-5)
    assert final["embedding_epsilon"] == pytest.approx(expected)
    assert final["gradient_epsilon"] == pytest.approx(expected)


def test_three_parties_align_on_the_customers_all_of_them_hold() -> None:
    configs = [
        {"party": "bank", "customers": 3000},
        {"party": "catalog", "customers": 3000},
        {"party": "delivery", "customers": 3000},
    ]
    grid = simulate_vertical(configs, {"num-server-rounds": 1, "batch-size": 512})
    shared = set.intersection(*(set(party_table(c).ids) for c in configs))
    assert grid.round_metrics[0]["intersection_size"] == len(shared)
    assert grid.round_metrics[0]["parties"] == 3
    assert 0.0 <= grid.round_metrics[1]["auc"] <= 1.0


def test_only_embeddings_gradients_and_blinded_points_cross() -> None:
    """Every message of the run, each way: no raw feature row of any party, no customer ID."""
    configs = [{"party": "bank", "customers": 1500}, {"party": "shop", "customers": 1500}]
    crossed: list[bytes] = []
    grid = simulate_vertical(configs, {"num-server-rounds": 1}, on_message=crossed.append)
    assert grid.round_metrics[1]["auc"] > 0
    wire = b"".join(crossed)
    for config in configs:
        table = party_table(config)
        assert not any(i.encode() in wire for i in table.ids[:200])
        for row in table.features[:200]:
            assert row.tobytes() not in wire
            assert row[:2].tobytes() not in wire
    assert len(crossed) > 10


def test_no_noise_means_no_epsilon_rather_than_a_false_one() -> None:
    run_config = {"num-server-rounds": 1, "embedding-noise": 0, "gradient-noise": 0}
    grid = simulate_vertical([{**BANK, "customers": 1500}, {**SHOP, "customers": 1500}], run_config)
    assert "embedding_epsilon" not in grid.round_metrics[1]
    assert "gradient_epsilon" not in grid.round_metrics[1]


def test_two_label_holders_fail_with_a_clear_reason() -> None:
    with pytest.raises(TaskError, match="exactly one label holder, found 2"):
        simulate_vertical([{**BANK, "customers": 500}] * 2, {"num-server-rounds": 1})


def test_an_unknown_party_is_named_in_the_error() -> None:
    with pytest.raises(Exception, match="party='bnak'"):
        simulate_vertical([{"party": "bnak"}, SHOP], {"num-server-rounds": 1})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"secure-aggregation": True}, "secure-aggregation does not apply to a vertical job"),
        ({"dp-noise-multiplier": 1.0}, "dp-noise-multiplier does not apply"),
        ({"strategy": "Krum"}, "has no aggregation strategy"),
        ({"embedding-noise": -1}, "embedding-noise must be >= 0"),
        ({"test-fraction": 1.0}, "test-fraction must be in"),
        ({"batch-size": "many"}, "batch-size must be a number"),
    ],
)
def test_settings_that_cannot_work_are_refused(config: dict, message: str) -> None:
    with pytest.raises(VerticalSettingsError, match=message):
        VerticalSettings.from_run_config(config)


def test_epsilon_falls_with_more_noise_and_grows_with_releases() -> None:
    def eps(sigma: float, releases: int) -> float:
        value = release_epsilon(noise_multiplier=sigma, releases=releases, delta=1e-5)
        assert value is not None
        return value

    assert eps(2.0, 10) < eps(1.0, 10) < eps(0.3, 10)
    assert eps(1.0, 5) < eps(1.0, 10)
    assert np.isfinite(eps(0.3, 100))
