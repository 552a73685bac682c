"""Short federated runs of the real ServerApps and ClientApps, and the baselines."""

from __future__ import annotations

import pytest
from consortium_core.errors import UnknownNameError
from consortium_tasks.baselines import train_centralized, train_local_only
from consortium_tasks.simulation import run_in_process


def test_three_digits_rounds_improve_on_the_initial_model() -> None:
    metrics = run_in_process(
        "digits-cnn", num_partitions=3, seed=42, run_config={"num-server-rounds": 3}
    )
    assert sorted(metrics) == [0, 1, 2, 3]
    assert metrics[0]["accuracy"] < 0.2
    assert metrics[3]["accuracy"] > metrics[0]["accuracy"] + 0.3
    assert metrics[3]["loss"] < metrics[0]["loss"]


def test_runs_repeat_exactly_for_a_seed() -> None:
    def run() -> dict[int, dict[str, float]]:
        return run_in_process(
            "breast-cancer-logreg", num_partitions=3, run_config={"num-server-rounds": 2}
        )

    assert run() == run()


def test_breast_cancer_with_fedprox_and_sampling() -> None:
    metrics = run_in_process(
        "breast-cancer-logreg",
        num_partitions=4,
        partitioner_spec="iid",
        run_config={
            "num-server-rounds": 2,
            "strategy": "FedProx",
            "strategy.proximal_mu": 0.1,
            "min-participants": 2,
            "fraction-train": 0.5,
            "fraction-evaluate": 0.0,
        },
    )
    assert metrics[2]["accuracy"] > 0.85


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="unknown strategy 'FedMagic'"):
        run_in_process("digits-cnn", num_partitions=2, run_config={"strategy": "FedMagic"})


def test_centralized_baseline_learns_digits() -> None:
    assert train_centralized("digits-cnn", epochs=2, seed=0) > 0.8


def test_local_only_baseline_scores_each_partition() -> None:
    scores = train_local_only(
        "digits-cnn", num_partitions=3, partitioner_spec="dirichlet(0.5)", seed=42, epochs=2
    )
    assert sorted(scores) == [0, 1, 2]
    assert all(0.0 < score < 1.0 for score in scores.values())
