"""Personalization, quality-aware weighting, the minimum participation guarantee and SMOTE, on
the real built-in ServerApp and ClientApp in the in-process simulator."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
import torch
from consortium_core.fair_sampling import FairSamplingError
from consortium_tasks.errors import TaskError
from consortium_tasks.oversampling import oversample
from consortium_tasks.personalization import (
    QUALITY_WEIGHT_KEY,
    PersonalizationSettings,
    local_split,
)
from consortium_tasks.simulation import FIRST_NODE_ID, simulate


def rounds_trained(grid) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    """node -> the rounds it trained in, from the replies it sent."""
    trained: dict[int, list[int]] = defaultdict(list)
    for sent in grid.message_bytes:
        if sent.message_type == "train":
            trained[sent.node_id].append(sent.server_round)
    return trained


def test_every_participant_trains_at_least_once_in_any_window() -> None:
    grid = simulate(
        "breast-cancer-logreg",
        num_partitions=8,
        partitioner_spec="iid",
        run_config={
            "num-server-rounds": 8,
            "min-participants": 2,
            "fraction-train": 0.25,
            "fraction-evaluate": 0.0,
            "min-participation-every": 4,
            "membership-audit": False,
        },
    )
    trained = rounds_trained(grid)
    assert set(trained) == {FIRST_NODE_ID + p for p in range(8)}
    for rounds in trained.values():
        marks = [0, *sorted(rounds), 9]
        assert max(b - a for a, b in itertools.pairwise(marks)) <= 4, rounds
    assert sum(len(r) for r in trained.values()) == 8 * 2  # the sample's size is kept


def test_a_bad_participation_setting_is_refused() -> None:
    with pytest.raises(FairSamplingError, match="min-participation-every"):
        simulate(
            "breast-cancer-logreg",
            num_partitions=2,
            run_config={"num-server-rounds": 1, "min-participation-every": "often"},
        )


def test_personalized_models_beat_the_global_one_on_each_participants_own_data() -> None:
    grid = simulate(
        "digits-cnn",
        num_partitions=4,
        partitioner_spec="dirichlet(0.3)",
        run_config={
            "num-server-rounds": 3,
            "fraction-evaluate": 0.0,
            "personalize-epochs": 3,
            "membership-audit": False,
        },
    )
    answers = grid.query_reports["personalize"]
    assert sorted(answers) == [FIRST_NODE_ID + p for p in range(4)]
    gains = [a["personal_accuracy"] - a["personal_global_accuracy"] for a in answers.values()]
    assert all(a["personal_test_examples"] > 0 for a in answers.values())
    assert sum(gains) / len(gains) > 0.0, answers


def test_quality_weighting_reports_each_updates_weight() -> None:
    grid = simulate(
        "breast-cancer-logreg",
        num_partitions=3,
        partitioner_spec="iid",
        run_config={"num-server-rounds": 2, "weighting": "quality", "fraction-evaluate": 0.0},
    )
    for _, metrics in grid.participant_reports:
        assert 0 < metrics[QUALITY_WEIGHT_KEY] <= metrics["num-examples"]
    assert grid.round_metrics[2]["accuracy"] > 0.85


def test_personalization_settings_are_checked() -> None:
    with pytest.raises(TaskError, match="weighting must be one of"):
        PersonalizationSettings.from_run_config({"weighting": "vibes"})
    with pytest.raises(TaskError, match="local-test-fraction"):
        PersonalizationSettings.from_run_config({"personalize-epochs": 1, "local-test-fraction": 1})


def test_local_split_keeps_the_slice_fixed_and_disjoint() -> None:
    x = torch.arange(50.0).reshape(50, 1)
    y = torch.tensor([0] * 30 + [1] * 15 + [2] * 5)
    (tx, _ty), (vx, vy) = local_split(x, y, fraction=0.2, seed=7)
    again = local_split(x, y, fraction=0.2, seed=7)[1][0]
    assert torch.equal(vx, again)
    assert set(tx.flatten().tolist()).isdisjoint(vx.flatten().tolist())
    assert sorted(torch.bincount(vy).tolist()) == [1, 3, 6]


def test_smote_fills_the_rare_classes_with_new_points() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(46, 2, 2, generator=generator)
    y = torch.tensor([0] * 40 + [1] * 5 + [2] * 1)
    new_x, new_y = oversample(x, y, method="smote", seed=0)
    assert new_x.shape[1:] == x.shape[1:]
    assert torch.bincount(new_y).tolist() == [40, 40, 1]  # one example has no neighbour
    assert torch.equal(new_x[: len(x)], x)  # the real examples are kept as they are
    synthetic = new_x[len(x) :].reshape(-1, 4)
    rare = x[y == 1].reshape(-1, 4)
    low, high = rare.min(dim=0).values, rare.max(dim=0).values
    assert bool(((synthetic >= low - 1e-6) & (synthetic <= high + 1e-6)).all())


def test_smote_is_refused_with_dp_sgd() -> None:
    with pytest.raises(Exception, match="oversample=smote is refused with DP-SGD"):
        simulate(
            "digits-private",
            num_partitions=2,
            run_config={"num-server-rounds": 1, "dp-noise-multiplier": 1.0},
            node_options={"oversample": "smote"},
        )


def test_smote_trains_a_participant_with_rare_classes() -> None:
    grid = simulate(
        "digits-cnn",
        num_partitions=3,
        partitioner_spec="dirichlet(0.2)",
        run_config={"num-server-rounds": 2, "fraction-evaluate": 0.0, "membership-audit": False},
        node_options={"oversample": "smote"},
    )
    assert grid.round_metrics[2]["accuracy"] > grid.round_metrics[0]["accuracy"]
