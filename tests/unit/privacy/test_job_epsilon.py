"""A job's target epsilon is each participant's epsilon over ALL its steps in the job.

Driven through :func:`consortium_tasks.local_training.train_locally`, as the ClientApps call it,
and through the digits-private task's real apps in process.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from consortium_core.privacy import PrivacyParameterError, composed_epsilon, epsilon
from consortium_tasks.data import load_partition
from consortium_tasks.digits_private.task import PRIVATE_RUN_CONFIG, TASK, build_model
from consortium_tasks.local_training import train_locally
from consortium_tasks.simulation import simulate
from flwr.common.logger import FLOWER_LOGGER

NODE = {"partition-id": 2, "num-partitions": 5, "seed": 42}


@pytest.fixture(autouse=True, scope="module")
def _quiet_flower() -> Iterator[None]:
    level = FLOWER_LOGGER.level
    FLOWER_LOGGER.setLevel(logging.WARNING)
    yield
    FLOWER_LOGGER.setLevel(level)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return load_partition(
        TASK.name, partition_id=2, num_partitions=5, partitioner_spec="dirichlet(0.5)", seed=42
    )


def _train(
    data: tuple[torch.Tensor, torch.Tensor],
    run_config: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> dict[str, float]:
    x, y = data
    return train_locally(
        build_model(),
        x,
        y,
        defaults=TASK.defaults,
        node_config=NODE,
        run_config=run_config,
        config={"server-round": 1, **(config or {})},
    )


@pytest.mark.parametrize(("rounds", "batch_size"), [(20, 0), (4, 64)])
def test_the_target_holds_over_all_rounds_and_a_reply_reports_its_round(
    data: tuple[torch.Tensor, torch.Tensor], rounds: int, batch_size: int
) -> None:
    metrics = _train(
        data,
        {"dp-target-epsilon": 3.0, "local-epochs": 2, "batch-size": batch_size},
        {"num-server-rounds": rounds},
    )
    sigma, rate, steps = (
        metrics["dp_noise_multiplier"],
        metrics["dp_sample_rate"],
        int(metrics["dp_steps"]),
    )
    job = composed_epsilon(accountant="rdp", history=[(sigma, rate, steps)] * rounds, delta=1e-5)
    assert 0.99 * 3.0 <= job <= 3.0
    one_round = epsilon(
        accountant="rdp", noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=1e-5
    )
    assert metrics["dp_epsilon_rdp"] == pytest.approx(one_round)
    assert metrics["dp_epsilon_rdp"] < job
    assert metrics["dp_epsilon_prv"] <= metrics["dp_epsilon_rdp"]


def test_more_rounds_need_more_noise(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    def sigma(rounds: int) -> float:
        config = {"num-server-rounds": rounds}
        return _train(data, {"dp-target-epsilon": 3.0}, config)["dp_noise_multiplier"]

    assert sigma(40) > sigma(10) > sigma(1)


def test_the_message_config_wins_over_the_run_config_for_the_rounds(
    data: tuple[torch.Tensor, torch.Tensor],
) -> None:
    from_message = _train(
        data, {"dp-target-epsilon": 3.0, "num-server-rounds": 1}, {"num-server-rounds": 20}
    )
    from_run = _train(data, {"dp-target-epsilon": 3.0, "num-server-rounds": 20})
    assert from_message["dp_noise_multiplier"] == from_run["dp_noise_multiplier"]


def test_a_full_batch_reports_rate_one_and_one_step_per_epoch(
    data: tuple[torch.Tensor, torch.Tensor],
) -> None:
    metrics = _train(data, {"dp-noise-multiplier": 5.0, "batch-size": "full", "local-epochs": 3})
    assert metrics["dp_sample_rate"] == 1.0 and metrics["dp_steps"] == 3
    assert metrics["dp_noise_multiplier"] == 5.0


def test_only_the_participant_can_ask_for_reproducible_noise(
    data: tuple[torch.Tensor, torch.Tensor],
) -> None:
    def weights(node_config: dict[str, Any], run_config: dict[str, Any]) -> torch.Tensor:
        model = build_model()
        train_locally(
            model,
            *data,
            defaults=TASK.defaults,
            node_config=node_config,
            run_config={"dp-noise-multiplier": 5.0, **run_config},
            config={"server-round": 1},
        )
        return model.classifier.weight.detach()

    seeded = {**NODE, "dp-seeded-noise": True}
    assert torch.equal(weights(seeded, {}), weights(seeded, {}))
    job_asks = {"dp-seeded-noise": True}  # a job (the server) cannot turn it on
    assert not torch.equal(weights(NODE, job_asks), weights(NODE, job_asks))


def test_noise_and_target_together_are_refused(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(PrivacyParameterError, match="not both"):
        _train(data, {"dp-noise-multiplier": 1.0, "dp-target-epsilon": 3.0})


def test_every_participant_stays_within_the_target_in_a_federated_job() -> None:
    rounds = 3
    grid = simulate(
        TASK.name,
        num_partitions=3,
        seed=7,
        run_config={
            **PRIVATE_RUN_CONFIG,
            "num-server-rounds": rounds,
            "dp-target-epsilon": 2.0,
            "membership-audit": False,
        },
    )
    histories: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for node_id, metrics in grid.participant_reports:
        histories[node_id].append(
            (metrics["dp_noise_multiplier"], metrics["dp_sample_rate"], int(metrics["dp_steps"]))
        )
    assert len(histories) == 3 and all(len(h) == rounds for h in histories.values())
    for history in histories.values():
        spent = composed_epsilon(accountant="rdp", history=history, delta=1e-5)
        assert 0.99 * 2.0 <= spent <= 2.0
    assert grid.round_metrics[rounds]["accuracy"] > grid.round_metrics[0]["accuracy"] + 0.3
