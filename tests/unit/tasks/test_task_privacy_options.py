"""Central DP, SecAgg+ and early stopping as job options, run in process with the real apps."""

from __future__ import annotations

import pytest
from consortium_core.rounds import StopTraining
from consortium_tasks.simulation import run_in_process


@pytest.mark.parametrize(
    "mode", ["server-fixed", "client-fixed", "server-adaptive", "client-adaptive"]
)
def test_each_central_dp_mode_trains_and_evaluates(mode: str) -> None:
    metrics = run_in_process(
        "breast-cancer-logreg",
        num_partitions=3,
        partitioner_spec="iid",
        run_config={
            "num-server-rounds": 2,
            "central-dp": mode,
            "central-dp-noise-multiplier": 0.1,
            "central-dp-clipping-norm": 5.0,
        },
    )
    assert sorted(metrics) == [0, 1, 2]
    assert metrics[2]["accuracy"] > 0.6  # little noise, big clip: it still learns


def test_central_dp_noise_changes_the_model() -> None:
    def run(noise: float) -> float:
        config = {"num-server-rounds": 1, "central-dp": "server-fixed"}
        config["central-dp-noise-multiplier"] = noise
        return run_in_process("breast-cancer-logreg", num_partitions=2, run_config=config)[1][
            "loss"
        ]

    assert run(0.01) != run(50.0)


def test_secure_aggregation_gives_nearly_the_plaintext_model() -> None:
    config = {"num-server-rounds": 2}
    plain = run_in_process("breast-cancer-logreg", num_partitions=3, run_config=config)
    secure = run_in_process(
        "breast-cancer-logreg",
        num_partitions=3,
        run_config={**config, "secure-aggregation": True, "secagg-reconstruction-threshold": 2},
    )
    assert secure[2]["loss"] == pytest.approx(plain[2]["loss"], abs=1e-3)


def test_early_stopping_ends_the_job_with_its_reason() -> None:
    with pytest.raises(StopTraining, match="early stopping after round"):
        run_in_process(
            "breast-cancer-logreg",
            num_partitions=2,
            run_config={
                "num-server-rounds": 50,
                "early-stopping-patience": 1,
                "early-stopping-min-delta": 0.05,
            },
        )
