"""Task ``digits-private``: its model, its settings, the public slice a simulation may declare."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from consortium_tasks.client_settings import hyperparams, load_node_data
from consortium_tasks.data import load_partition, partition_indices, public_indices
from consortium_tasks.digits_private.task import PRIVATE_RUN_CONFIG, TASK, build_model
from consortium_tasks.errors import TaskError
from consortium_tasks.local_training import train_locally
from consortium_tasks.models import DigitsEdgeLinear, FixedEdgeFeatures
from consortium_tasks.registry import FULL_BATCH, HyperParams, get_task, parse_batch_size
from consortium_tasks.server_settings import participant_config
from consortium_tasks.simulation import simulate


def test_digits_private_is_a_built_in_task_with_a_full_batch_default() -> None:
    spec = get_task("digits-private")
    assert spec.dataset == "sklearn-digits"
    assert spec.model == "consortium_tasks.models:DigitsEdgeLinear"
    assert spec.defaults.batch_size == FULL_BATCH
    assert PRIVATE_RUN_CONFIG["num-server-rounds"] <= 60


def test_only_the_classifier_is_trainable_and_it_starts_at_zero() -> None:
    model = DigitsEdgeLinear()
    assert sorted(model.state_dict()) == ["classifier.bias", "classifier.weight"]
    assert model.classifier.in_features == FixedEdgeFeatures.num_features() == 490
    assert all(float(p.detach().abs().sum()) == 0.0 for p in model.parameters())


def test_each_image_is_standardized_on_its_own() -> None:
    model = build_model()
    with torch.no_grad():
        model.classifier.weight.normal_(generator=torch.Generator().manual_seed(0))
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    brighter = 3.0 * images + 0.5
    torch.testing.assert_close(model(brighter), model(images), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model(images[:1]), model(images)[:1])  # no batch statistics
    assert torch.isfinite(model(torch.zeros(1, 1, 8, 8))).all()  # a blank image


def test_batch_size_full_or_zero_means_every_example() -> None:
    assert parse_batch_size("full") == parse_batch_size(0) == FULL_BATCH
    assert hyperparams(HyperParams(1, 0.1, 32), {"batch-size": "full"}, {}).batch_size == 0
    with pytest.raises(TaskError, match="batch-size must be"):
        hyperparams(HyperParams(1, 0.1, 32), {"batch-size": "half"}, {})


def test_the_server_sends_the_job_length_with_the_hyper_parameters() -> None:
    config = participant_config(TASK.defaults, {"num-server-rounds": 20, "batch-size": "full"})
    assert config["num-server-rounds"] == 20 and config["batch-size"] == 0
    assert participant_config(TASK.defaults, {})["num-server-rounds"] == 3


def test_plain_training_takes_a_full_batch() -> None:
    x, y = load_partition(
        TASK.name, partition_id=0, num_partitions=5, partitioner_spec="dirichlet(0.5)", seed=42
    )
    model = build_model()
    metrics = train_locally(
        model,
        x,
        y,
        defaults=TASK.defaults,
        node_config={"partition-id": 0},
        run_config={},
        config={"server-round": 1},
    )
    assert np.isfinite(metrics["train_loss"]) and "dp_steps" not in metrics
    assert float(model.classifier.weight.detach().abs().sum()) > 0


def test_the_public_slice_is_in_no_partition_and_the_rest_is_shared() -> None:
    public = public_indices(TASK.name, fraction=0.1)
    parts = partition_indices(
        TASK.name, num_partitions=5, partitioner_spec="dirichlet(0.5)", seed=3, public_fraction=0.1
    )
    held = np.concatenate(parts)
    assert len(np.intersect1d(held, public)) == 0
    assert len(held) + len(public) == 1437 and len(np.unique(held)) == len(held)
    assert np.array_equal(public, public_indices(TASK.name, fraction=0.1))  # fixed for every job
    with pytest.raises(TaskError, match="public-fraction"):
        public_indices(TASK.name, fraction=1.0)


def test_a_simulated_participant_never_loads_public_data() -> None:
    node = {"partition-id": 0, "num-partitions": 2, "seed": 1, "public-fraction": 0.5}
    x, _ = load_node_data(TASK.name, node, lambda config: (torch.zeros(0), torch.zeros(0)))
    without, _ = load_node_data(
        TASK.name, {**node, "public-fraction": 0.0}, lambda config: (torch.zeros(0), torch.zeros(0))
    )
    assert len(x) < len(without)


def test_simulate_keeps_what_every_participant_reported() -> None:
    grid = simulate(
        TASK.name,
        num_partitions=2,
        seed=1,
        run_config={"num-server-rounds": 2, "membership-audit": False},
    )
    assert sorted(grid.round_metrics) == [0, 1, 2]
    assert len(grid.participant_reports) == 4
    assert {node for node, _ in grid.participant_reports} == set(grid.get_node_ids())
    assert all("train_loss" in metrics for _, metrics in grid.participant_reports)
