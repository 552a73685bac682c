"""The maths of asynchronous aggregation (FedAsync, FedBuff) and its run config settings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from consortium_core.asynchronous import (
    ASYNC_STRATEGIES,
    STALENESS_FUNCTIONS,
    AsyncSettings,
    AsyncSettingsError,
    BufferedUpdate,
    check_async_job,
    delta_between,
    fedasync_mix,
    fedbuff_apply,
    staleness_weight,
)
from consortium_core.errors import UnknownNameError
from consortium_core.strategies import STRATEGIES


def test_staleness_functions_match_the_papers() -> None:
    assert [staleness_weight("constant", staleness=s) for s in (0, 5)] == [1.0, 1.0]
    assert staleness_weight("polynomial", staleness=3) == pytest.approx(1 / np.sqrt(4))
    assert staleness_weight("polynomial", staleness=3, a=1.0) == pytest.approx(0.25)
    assert staleness_weight("hinge", staleness=4) == 1.0  # b = 4
    assert staleness_weight("hinge", staleness=6, a=10, b=4) == pytest.approx(1 / 21)
    for name in STALENESS_FUNCTIONS:  # never grows with staleness, 1 when fresh
        weights = [staleness_weight(name, staleness=s) for s in range(20)]
        assert weights[0] == 1.0 and all(x >= y for x, y in itertools.pairwise(weights))


def test_unknown_staleness_function_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="constant, hinge, polynomial"):
        staleness_weight("exponential", staleness=1)
    with pytest.raises(AsyncSettingsError, match="staleness must be >= 0"):
        staleness_weight("polynomial", staleness=-1)


def test_fedasync_mix_is_a_convex_combination_keeping_dtypes() -> None:
    g = [np.array([0.0, 4.0], dtype=np.float32), np.array([10], dtype=np.int64)]
    u = [np.array([2.0, 0.0], dtype=np.float32), np.array([20], dtype=np.int64)]
    out = fedasync_mix(global_arrays=g, update=u, mixing=0.25)
    np.testing.assert_allclose(out[0], [0.5, 3.0])
    assert out[0].dtype == np.float32 and out[1].dtype == np.int64 and out[1][0] == 12
    assert fedasync_mix(global_arrays=g, update=u, mixing=0.0)[0].tolist() == [0.0, 4.0]
    with pytest.raises(AsyncSettingsError, match="do not match"):
        fedasync_mix(global_arrays=g, update=[np.zeros(3), u[1]], mixing=0.5)


def test_fedbuff_applies_the_staleness_weighted_mean_of_deltas() -> None:
    g = [np.array([1.0, 1.0])]
    received = [np.array([0.0, 0.0])]
    fresh = BufferedUpdate(
        delta=delta_between(trained=[np.array([2.0, 0.0])], received=received), staleness=0
    )
    stale = BufferedUpdate(delta=[np.array([0.0, 4.0])], staleness=8)  # weight 1/3
    out = fedbuff_apply(global_arrays=g, buffer=[fresh, stale], server_lr=0.5)
    np.testing.assert_allclose(out[0], [1.0 + 0.5 * 2.0 / 2, 1.0 + 0.5 * (4.0 / 3) / 2])
    constant = fedbuff_apply(global_arrays=g, buffer=[fresh, stale], staleness="constant")
    np.testing.assert_allclose(constant[0], [2.0, 3.0])
    with pytest.raises(AsyncSettingsError, match="at least one"):
        fedbuff_apply(global_arrays=g, buffer=[])


def test_settings_defaults_and_values_from_run_config() -> None:
    assert AsyncSettings.from_run_config({"strategy": "FedProx"}) is None
    s = AsyncSettings.from_run_config(
        {
            "strategy": "FedAsync",
            "async.concurrency": 3,
            "async.staleness": "hinge",
            "async.staleness-a": 5,
            "async.staleness-b": "2",
            "async.alpha": 0.9,
            "async.max-staleness": 4,
            "async.timeout-s": 30,
        }
    )
    assert s is not None
    assert (s.concurrency, s.staleness, s.staleness_a, s.staleness_b) == (3, "hinge", 5.0, 2)
    assert (s.alpha, s.max_staleness, s.timeout_s) == (0.9, 4, 30.0)
    assert s.weight(2) == 1.0 and s.weight(3) == pytest.approx(1 / 6)
    assert s.too_stale(5) and not s.too_stale(4)
    d = AsyncSettings.from_run_config({"strategy": "FedBuff"})
    assert d is not None and (d.buffer_size, d.concurrency, d.max_staleness) == (2, 0, None)
    assert d.weight(3) == pytest.approx(0.5)


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(AsyncSettingsError) as caught:
        AsyncSettings.from_run_config(
            {
                "strategy": "FedBuff",
                "async.buffer-size": 0,
                "async.concurrency": "many",
                "async.staleness": "cubic",
                "async.alpha": 0,
                "async.server-lr": -1,
                "async.max-staleness": 1.5,
                "async.timeout-s": "soon",
            }
        )
    problems = " | ".join(caught.value.problems)
    for expected in (
        "async.buffer-size must be >= 1, got 0",
        "async.concurrency must be an integer, got 'many'",
        "unknown staleness function 'cubic'",
        "async.alpha must be in (0, 1], got 0",
        "async.server-lr must be > 0, got -1",
        "async.max-staleness must be an integer, got 1.5",
        "async.timeout-s must be a number, got 'soon'",
    ):
        assert expected in problems
    assert len(caught.value.problems) == 7


def test_async_jobs_refuse_secure_aggregation_and_central_dp() -> None:
    with pytest.raises(AsyncSettingsError, match="FedAsync cannot run with secure-aggregation"):
        check_async_job({"strategy": "FedAsync", "secure-aggregation": True})
    with pytest.raises(AsyncSettingsError, match="FedBuff cannot run with central-dp"):
        check_async_job(
            {
                "strategy": "FedBuff",
                "central-dp": "server-fixed",
                "central-dp-noise-multiplier": 1.0,
            }
        )
    with pytest.raises(AsyncSettingsError, match=r"FedAsync does not run with compression\.up"):
        check_async_job({"strategy": "FedAsync", "compression.up": "q8"})
    assert check_async_job({"strategy": "FedAsync", "compression.up": "none"}) is not None
    with pytest.raises(AsyncSettingsError, match="cannot run with privacy-budget-epsilon"):
        check_async_job({"strategy": "FedBuff", "privacy-budget-epsilon": 3.0})
    assert check_async_job({"strategy": "FedAvg", "secure-aggregation": True}) is None


def test_async_names_do_not_clash_with_flower_strategies() -> None:
    assert sorted(ASYNC_STRATEGIES) == ["FedAsync", "FedBuff"]
    assert not set(ASYNC_STRATEGIES) & set(STRATEGIES)
