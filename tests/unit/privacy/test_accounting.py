"""Epsilon by named accountant, the inverse (noise for a target), and the recomputable spend."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.errors import UnknownNameError
from consortium_core.privacy import (
    PrivacyParameterError,
    PrivacySpend,
    epsilon,
    known_accountants,
    noise_multiplier_for,
)
from opacus.accountants import PRVAccountant, RDPAccountant
from pydantic import ValidationError

CASES = [
    # noise_multiplier, sample_rate, steps, delta
    (1.0, 0.01, 1000, 1e-5),
    (0.8, 16 / 277, 36, 1e-5),
    (2.5, 1.0, 150, 1e-6),
]


def _opacus_epsilon(accountant: str, sigma: float, rate: float, steps: int, delta: float) -> float:
    engine = RDPAccountant() if accountant == "rdp" else PRVAccountant()
    for _ in range(steps):
        engine.step(noise_multiplier=sigma, sample_rate=rate)
    with np.errstate(divide="ignore"):  # Opacus's PRV takes log(1 - q), -inf at q = 1
        return float(engine.get_epsilon(delta=delta))


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
@pytest.mark.parametrize(("sigma", "rate", "steps", "delta"), CASES)
def test_epsilon_agrees_with_opacus_stepped_one_step_at_a_time(
    accountant: str, sigma: float, rate: float, steps: int, delta: float
) -> None:
    ours = epsilon(
        accountant=accountant, noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=delta
    )
    assert ours == pytest.approx(_opacus_epsilon(accountant, sigma, rate, steps, delta), rel=1e-9)


def test_prv_is_tighter_than_rdp() -> None:
    inputs = {"noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 1000, "delta": 1e-5}
    assert 0 < epsilon(accountant="prv", **inputs) < epsilon(accountant="rdp", **inputs)


def test_zero_steps_spend_nothing() -> None:
    for name in known_accountants():
        assert epsilon(
            accountant=name, noise_multiplier=1.0, sample_rate=0.1, steps=0, delta=1e-5
        ) == (0.0)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
@pytest.mark.parametrize(("target", "rate", "steps"), [(8.0, 16 / 277, 36), (3.0, 1.0, 150)])
def test_noise_multiplier_for_round_trips_within_one_percent_below_target(
    accountant: str, target: float, rate: float, steps: int
) -> None:
    sigma = noise_multiplier_for(
        target_epsilon=target, delta=1e-5, sample_rate=rate, steps=steps, accountant=accountant
    )
    reached = epsilon(
        accountant=accountant, noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=1e-5
    )
    assert 0.99 * target <= reached <= target


def test_noise_multiplier_for_rejects_an_unreachable_budget() -> None:
    with pytest.raises(PrivacyParameterError, match="no noise multiplier reaches"):
        noise_multiplier_for(
            target_epsilon=1e-9, delta=1e-5, sample_rate=1.0, steps=10**6, accountant="rdp"
        )


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_privacy_spend_recomputes_within_one_percent(accountant: str) -> None:
    spend = PrivacySpend.compute(
        accountant=accountant, noise_multiplier=1.1, sample_rate=0.05, steps=200, delta=1e-5
    )
    reported = PrivacySpend.model_validate_json(spend.model_dump_json())
    assert reported.v == 1
    again = epsilon(
        accountant=reported.accountant,
        noise_multiplier=reported.noise_multiplier,
        sample_rate=reported.sample_rate,
        steps=reported.steps,
        delta=reported.delta,
    )
    assert again == pytest.approx(spend.epsilon, rel=0.01)
    assert reported.recompute_epsilon() == pytest.approx(spend.epsilon, rel=0.01)


def test_privacy_spend_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValidationError):
        PrivacySpend(
            accountant="rdp",
            noise_multiplier=1.0,
            sample_rate=1.5,
            steps=1,
            delta=1e-5,
            epsilon=1.0,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"delta": 0.0}, "delta must be in"),
        ({"delta": 1.0}, "delta must be in"),
        ({"sample_rate": 0.0}, "sample_rate must be in"),
        ({"sample_rate": 1.01}, "sample_rate must be in"),
        ({"steps": -1}, "steps must be an integer"),
        ({"steps": 1.5}, "steps must be an integer"),
        ({"noise_multiplier": 0.0}, "noise_multiplier must be"),
        ({"noise_multiplier": -1.0}, "noise_multiplier must be"),
        ({"noise_multiplier": float("nan")}, "noise_multiplier must be"),
    ],
)
def test_out_of_range_inputs_raise_a_clear_value_error(
    change: dict[str, float], message: str
) -> None:
    inputs = {"noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 10, "delta": 1e-5}
    with pytest.raises(ValueError, match=message) as caught:
        epsilon(accountant="rdp", **{**inputs, **change})
    assert isinstance(caught.value, PrivacyParameterError)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PrivacyParameterError) as caught:
        epsilon(accountant="rdp", noise_multiplier=1.0, sample_rate=2.0, steps=-3, delta=5.0)
    text = str(caught.value)
    assert "delta" in text and "sample_rate" in text and "steps" in text


def test_noise_multiplier_for_validates_its_inputs() -> None:
    with pytest.raises(PrivacyParameterError, match="target_epsilon"):
        noise_multiplier_for(
            target_epsilon=0.0, delta=1e-5, sample_rate=0.1, steps=10, accountant="rdp"
        )
    with pytest.raises(PrivacyParameterError, match="steps must be >= 1"):
        noise_multiplier_for(
            target_epsilon=1.0, delta=1e-5, sample_rate=0.1, steps=0, accountant="rdp"
        )


def test_unknown_accountant_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="known: prv, rdp"):
        epsilon(accountant="gdp", noise_multiplier=1.0, sample_rate=0.1, steps=1, delta=1e-5)
    with pytest.raises(UnknownNameError):
        noise_multiplier_for(
            target_epsilon=1.0, delta=1e-5, sample_rate=0.1, steps=1, accountant="moments"
        )
