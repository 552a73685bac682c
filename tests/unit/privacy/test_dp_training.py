"""DP-SGD on the built-in digits task: it trains, and its reported epsilon can be recomputed."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from consortium_core.privacy import PrivacyParameterError, epsilon, known_accountants
from consortium_tasks.data import load_partition
from consortium_tasks.digits_cnn.task import TASK, build_model
from consortium_tasks.dp import DPTrainingResult, check_dp_compatible, train_model_dp
from consortium_tasks.models import BreastCancerLogReg, DigitsCNN, build_seeded
from opacus.validators import ModuleValidator
from torch import nn


@pytest.fixture(scope="module")
def partition() -> tuple[torch.Tensor, torch.Tensor]:
    return load_partition(
        TASK.name, partition_id=0, num_partitions=5, partitioner_spec="dirichlet(0.5)", seed=42
    )


def _train(
    data: tuple[torch.Tensor, torch.Tensor], model: nn.Module, **options: object
) -> DPTrainingResult:
    x, y = data
    settings: dict[str, object] = {
        "epochs": 1,
        "learning_rate": TASK.defaults.learning_rate,
        "batch_size": TASK.defaults.batch_size,
        "seed": 7,
        "max_grad_norm": 1.0,
        "delta": 1e-5,
        **options,
    }
    if "target_epsilon" not in settings:
        settings.setdefault("noise_multiplier", 1.0)
    return train_model_dp(model, x, y, **settings)  # type: ignore[arg-type]


def test_the_built_in_models_are_opacus_compatible() -> None:
    for model in (DigitsCNN(), BreastCancerLogReg()):
        assert ModuleValidator.validate(model, strict=False) == []
        check_dp_compatible(model)


def test_a_batch_norm_model_is_refused_with_the_reason() -> None:
    with pytest.raises(PrivacyParameterError, match="BatchNorm"):
        check_dp_compatible(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))


def test_one_private_epoch_on_a_digits_partition(
    partition: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = build_seeded(build_model, 0)
    before = [p.detach().clone() for p in model.parameters()]
    result = _train(partition, model)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())
    assert model(partition[0][:2]).shape == (2, 10)  # a plain module again, hooks gone
    assert result.sample_rate == pytest.approx(1 / -(-len(partition[0]) // 16))
    assert result.steps == -(-len(partition[0]) // 16)
    assert sorted(result.spends) == known_accountants()
    for name, spend in result.spends.items():
        assert spend.epsilon > 0
        assert spend.steps == result.steps and spend.noise_multiplier == 1.0
        again = epsilon(
            accountant=name,
            noise_multiplier=spend.noise_multiplier,
            sample_rate=spend.sample_rate,
            steps=spend.steps,
            delta=spend.delta,
        )
        assert again == pytest.approx(spend.epsilon, rel=0.01)
    metrics = result.metrics()
    assert metrics["dp_epsilon_rdp"] == result.spends["rdp"].epsilon
    assert metrics["dp_steps"] == result.steps


def test_grad_sample_modes_compute_the_same_private_training(
    partition: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = partition[0][:96], partition[1][:96]
    trained = {}
    for mode in ("hooks", "ew", "ghost"):
        model = build_seeded(build_model, 0)
        _train((x, y), model, grad_sample_mode=mode, batch_size=32)
        trained[mode] = model
    for mode in ("ew", "ghost"):
        for a, b in zip(trained["hooks"].parameters(), trained[mode].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_target_epsilon_sets_the_noise_and_is_not_exceeded(
    partition: tuple[torch.Tensor, torch.Tensor],
) -> None:
    result = _train(
        partition, build_seeded(build_model, 0), target_epsilon=4.0, accountant="rdp", epochs=2
    )
    assert 0.99 * 4.0 <= result.spends["rdp"].epsilon <= 4.0
    assert result.spends["prv"].epsilon <= result.spends["rdp"].epsilon


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise_multiplier": 1.0, "target_epsilon": 3.0}, "exactly one of"),
        ({"grad_sample_mode": "magic"}, "unknown grad_sample_mode"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_settings_are_refused_before_training(
    partition: tuple[torch.Tensor, torch.Tensor], options: dict[str, object], message: str
) -> None:
    with pytest.raises(PrivacyParameterError, match=message):
        _train(partition, DigitsCNN(), **options)


def test_neither_noise_nor_target_is_refused(
    partition: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = partition
    with pytest.raises(PrivacyParameterError, match="exactly one of"):
        train_model_dp(
            DigitsCNN(),
            x,
            y,
            epochs=1,
            learning_rate=0.1,
            batch_size=16,
            seed=0,
            max_grad_norm=1.0,
            delta=1e-5,
        )


@pytest.mark.parametrize("name", ["consortium_tasks.dp", "consortium_core.privacy.accounting"])
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
