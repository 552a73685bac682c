"""The contribution estimators on constructed federations with known answers (softmax
regression on digits, :mod:`consortium_bench.federation`)."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_bench.federation import Round, build_federation
from consortium_core.contribution import (
    CountingUtility,
    estimate,
    exact_shapley,
    gtg_shapley,
    leave_one_out,
    tmc_shapley,
)
from consortium_core.errors import ConsortiumError, UnknownNameError
from scipy.stats import spearmanr

SHUFFLED = 4


@pytest.fixture(scope="module")
def first_round() -> Round:
    """Five participants: 1 holds a copy of 0's data, 4 has shuffled labels."""
    federation = build_federation([120, 120, 200, 80, 150], shuffled=[SHUFFLED], copies={1: 0})
    return federation.round(federation.initial())


@pytest.fixture(scope="module")
def distinct_rounds() -> list[Round]:
    """Eight participants whose labels are wrong at graded rates (0 to 60 %), the last one
    shuffled: the true ranking is known; three rounds."""
    noise = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.0]
    federation = build_federation([150] * 8, shuffled=[7], label_noise=noise, seed=3)
    return federation.rounds(3)


def test_exact_values_add_up_to_what_the_round_gained(first_round: Round) -> None:
    v = first_round.utility()
    result = exact_shapley(v)
    assert sum(result.values) == pytest.approx(v.total - v.empty, abs=1e-12)
    assert result.evaluations == 2**5 and result.eval_fraction == 1.0


def test_identical_participants_get_equal_values(first_round: Round) -> None:
    values = exact_shapley(first_round.utility()).values
    assert values[0] == values[1]


@pytest.mark.parametrize("method", ["exact", "gtg", "tmc"])
def test_the_shuffled_participant_gets_the_lowest_value(first_round: Round, method: str) -> None:
    values = estimate(method, first_round.utility()).values
    assert int(np.argmin(values)) == SHUFFLED, values
    if method == "exact":
        assert values[SHUFFLED] < 0  # its update makes the model worse


def test_gtg_stays_close_to_exact_with_far_fewer_models(distinct_rounds: list[Round]) -> None:
    """Over the job (what a ledger pays): the same ranking as exact, the shuffled participant
    last, for well under half of exact's coalition models."""
    exact_total, gtg_total = np.zeros(8), np.zeros(8)
    exact_models = gtg_models = 0
    for number, round_ in enumerate(distinct_rounds, start=1):
        exact = exact_shapley(round_.utility())
        gtg = gtg_shapley(round_.utility(), seed=number)
        exact_total += exact.values
        gtg_total += gtg.values
        exact_models += exact.evaluations
        gtg_models += gtg.evaluations
    assert spearmanr(exact_total, gtg_total).statistic >= 0.9, (exact_total, gtg_total)
    assert int(np.argmin(exact_total)) == int(np.argmin(gtg_total)) == 7
    assert gtg_models < exact_models / 2, (gtg_models, exact_models)


def test_tmc_approaches_exact_given_permutations(distinct_rounds: list[Round]) -> None:
    round_ = distinct_rounds[0]
    exact = np.array(exact_shapley(round_.utility()).values)
    tmc = np.array(tmc_shapley(round_.utility(), max_permutations=400, convergence=0.0).values)
    assert np.abs(tmc - exact).max() < 0.25 * np.abs(exact).max()


def test_a_round_that_gained_nothing_is_truncated_after_two_models() -> None:
    flat = CountingUtility(lambda coalition: 0.9, n=6)
    result = gtg_shapley(flat)
    assert result.truncated and result.values == (0.0,) * 6 and result.evaluations == 2


def test_leave_one_out_is_cheap_and_blind_to_duplicates(first_round: Round) -> None:
    result = leave_one_out(first_round.utility())
    assert result.evaluations == 5 + 2
    # each copy makes the other redundant: removing either alone changes nothing much
    assert abs(result.values[0]) < exact_shapley(first_round.utility()).values[0]


def test_estimates_repeat_for_a_seed(distinct_rounds: list[Round]) -> None:
    round_ = distinct_rounds[1]
    assert gtg_shapley(round_.utility(), seed=5) == gtg_shapley(round_.utility(), seed=5)


def test_bad_requests_are_refused_by_name() -> None:
    with pytest.raises(UnknownNameError, match="known: exact, gtg, loo, tmc"):
        estimate("banzhaf", CountingUtility(lambda s: 0.0, n=2))
    with pytest.raises(ConsortiumError, match="use gtg or tmc"):
        exact_shapley(CountingUtility(lambda s: 0.0, n=15))
    with pytest.raises(ConsortiumError, match="NaN"):
        exact_shapley(CountingUtility(lambda s: float("nan"), n=2))
    with pytest.raises(ConsortiumError, match="at least one"):
        CountingUtility(lambda s: 0.0, n=0)


def test_few_participants_get_exact_values_from_the_samplers() -> None:
    """With up to four participants 2**n models cost no more than sampling, and truncation
    would favour whoever joins first."""
    few = build_federation([100, 100, 100], seed=4)
    round_ = few.round(few.initial())
    exact = exact_shapley(round_.utility())
    for method in ("gtg", "tmc"):
        result = estimate(method, round_.utility())
        assert result.method == "exact" and result.values == exact.values
