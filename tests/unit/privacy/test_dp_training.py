"""DP-SGD on the built-in digits tasks: it trains, its grad-sample modes agree, and its reported
epsilon can be recomputed."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from consortium_core.privacy import PrivacyParameterError, epsilon, known_accountants
from consortium_tasks.data import load_partition
from consortium_tasks.digits_cnn.task import TASK, build_model
from consortium_tasks.dp import (
    DEFAULT_GRAD_SAMPLE_MODE,
    GRAD_SAMPLE_MODES,
    DPTrainingResult,
    check_dp_compatible,
    clipped_gradients,
    sample_rate_for,
    spends_of,
    steps_per_epoch,
    train_model_dp,
)
from consortium_tasks.models import (
    BreastCancerLogReg,
    DigitsCNN,
    DigitsEdgeLinear,
    build_seeded,
)
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
        "noise_multiplier": 1.0,
        **options,
    }
    return train_model_dp(model, x, y, **settings)  # type: ignore[arg-type]


def _perturbed(factory: type[nn.Module]) -> nn.Module:
    """A seeded model moved off its initial point (the private model's classifier starts at 0)."""
    model = build_seeded(factory, 0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model


def test_the_built_in_models_are_opacus_compatible() -> None:
    for model in (DigitsCNN(), BreastCancerLogReg(), DigitsEdgeLinear()):
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
    opacus_attributes = ("grad_sample", "_norm_sample", "_forward_counter")
    assert not any(hasattr(p, a) for p in model.parameters() for a in opacus_attributes)
    assert model(partition[0][:2]).shape == (2, 10)  # a plain module again, hooks gone
    n = len(partition[0])
    assert result.sample_rate == pytest.approx(16 / n)
    assert result.steps == -(-n // 16)
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


@pytest.mark.parametrize("batch_size", [0, 10_000])
def test_a_full_batch_samples_every_example_at_every_step(
    partition: tuple[torch.Tensor, torch.Tensor], batch_size: int
) -> None:
    result = _train(partition, DigitsEdgeLinear(), batch_size=batch_size, epochs=3)
    assert result.sample_rate == 1.0 and result.steps == 3
    assert result.spends["rdp"].epsilon == pytest.approx(
        epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=1.0, steps=3, delta=1e-5)
    )


def test_sample_rate_and_steps_follow_the_batch_size() -> None:
    assert sample_rate_for(batch_size=32, num_examples=320) == 0.1
    assert steps_per_epoch(batch_size=32, num_examples=321) == 11
    assert sample_rate_for(batch_size=0, num_examples=5) == 1.0
    assert steps_per_epoch(batch_size=5, num_examples=5) == 1


@pytest.mark.parametrize("factory", [DigitsCNN, DigitsEdgeLinear, BreastCancerLogReg])
@pytest.mark.parametrize("mode", [m for m in GRAD_SAMPLE_MODES if m != "hooks"])
def test_every_grad_sample_mode_clips_as_hooks_do(
    partition: tuple[torch.Tensor, torch.Tensor], factory: type[nn.Module], mode: str
) -> None:
    if factory is BreastCancerLogReg:
        generator = torch.Generator().manual_seed(0)
        x, y = torch.randn(48, 30, generator=generator), torch.randint(0, 2, (48,))
    else:
        x, y = partition[0][:64], partition[1][:64]
    expected = clipped_gradients(
        _perturbed(factory), x, y, max_grad_norm=1.0, grad_sample_mode="hooks"
    )
    model = _perturbed(factory)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    got = clipped_gradients(model, x, y, max_grad_norm=1.0, grad_sample_mode=mode)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-6)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_clipping_bounds_each_example(partition: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = partition[0][:1], partition[1][:1]
    grads = clipped_gradients(
        _perturbed(DigitsCNN), x, y, max_grad_norm=0.01, grad_sample_mode=DEFAULT_GRAD_SAMPLE_MODE
    )
    total = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    assert float(total) <= 0.01 * (1 + 1e-4)


def test_grad_sample_modes_compute_the_same_private_training(
    partition: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = partition[0][:96], partition[1][:96]
    trained = {}
    for mode in GRAD_SAMPLE_MODES:
        model = build_seeded(build_model, 0)
        _train((x, y), model, grad_sample_mode=mode, batch_size=32)
        trained[mode] = model
    for mode in GRAD_SAMPLE_MODES:
        for a, b in zip(trained["hooks"].parameters(), trained[mode].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_an_empty_poisson_sample_still_steps_with_noise(mode: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 30, generator=generator), torch.tensor([0, 1, 0])
    model = BreastCancerLogReg()
    before = [p.detach().clone() for p in model.parameters()]
    # Rate 1/3 over 3 examples and 20 steps: some samples are empty (seed-fixed).
    result = train_model_dp(
        model,
        x,
        y,
        epochs=20,
        learning_rate=0.1,
        batch_size=1,
        seed=3,
        max_grad_norm=1.0,
        delta=1e-5,
        noise_multiplier=1.0,
        grad_sample_mode=mode,
    )
    assert result.steps == 60
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_noise_is_unpredictable_unless_seeded(partition: tuple[torch.Tensor, torch.Tensor]) -> None:
    def trained(seed: int | None) -> torch.Tensor:
        model = DigitsEdgeLinear()
        _train(partition, model, seed=seed, batch_size=0)
        return model.classifier.weight.detach()

    assert torch.equal(trained(5), trained(5))
    assert not torch.equal(trained(None), trained(None))


def test_spends_are_computed_once_per_inputs() -> None:
    first = spends_of(noise_multiplier=7.5, sample_rate=1.0, steps=4, delta=1e-5)
    second = spends_of(noise_multiplier=7.5, sample_rate=1.0, steps=4, delta=1e-5)
    assert first == second and first is not second  # a fresh dict over the cached spends
    assert first["rdp"].recompute_epsilon() == pytest.approx(first["rdp"].epsilon)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"grad_sample_mode": "magic"}, "unknown grad_sample_mode"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
    ],
)
def test_bad_settings_are_refused_before_training(
    partition: tuple[torch.Tensor, torch.Tensor], options: dict[str, object], message: str
) -> None:
    with pytest.raises(PrivacyParameterError, match=message):
        _train(partition, DigitsCNN(), **options)


@pytest.mark.parametrize("name", ["consortium_tasks.dp", "consortium_core.privacy.accounting"])
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
