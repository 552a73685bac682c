"""The aggregation kernels equal numpy and Flower maths; bad input raises typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.aggregation import (
    AggregationInputError,
    InvalidParameterError,
    ShapeMismatchError,
    TooFewUpdatesError,
    bulyan,
    bulyan_from_selected,
    coordinate_median,
    krum,
    krum_scores,
    multi_krum,
    multi_krum_select,
    pairwise_squared_distances,
    split_flat,
    stack_updates,
    trimmed_mean,
    weighted_mean,
)
from consortium_core.errors import ConsortiumError
from flwr.app import ArrayRecord
from flwr.serverapp.strategy.bulyan import aggregate_n_closest_weights
from flwr.serverapp.strategy.fedtrimmedavg import trim_mean
from flwr.serverapp.strategy.multikrum import compute_distances


def _updates(k: int, n: int = 5003, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((k, n), dtype=np.float32)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 10, 19, 20, 21])
def test_median_equals_numpy_exactly(k: int) -> None:
    updates = _updates(k)
    assert np.array_equal(coordinate_median(updates=updates), np.median(updates, axis=0))


@pytest.mark.parametrize("k", [1, 3, 4, 10, 20, 21])
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.2, 0.45])
def test_trimmed_mean_equals_sorted_mean_exactly_and_flower_to_rounding(
    k: int, beta: float
) -> None:
    updates = _updates(k, seed=k)
    cut = int(beta * k)
    got = trimmed_mean(updates=updates, beta=beta)
    assert np.array_equal(got, np.mean(np.sort(updates, axis=0)[cut : k - cut], axis=0))
    np.testing.assert_allclose(got, trim_mean(updates, beta), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [2, 5, 20])
def test_weighted_mean_matches_flowers_sum(k: int) -> None:
    updates = _updates(k)
    weights = np.random.default_rng(1).integers(1, 100, size=k).astype(float)
    expected = sum(u * (w / weights.sum()) for u, w in zip(updates, weights, strict=True))
    np.testing.assert_allclose(
        weighted_mean(updates=updates, weights=weights), expected, rtol=1e-5, atol=1e-6
    )


def test_distances_stay_accurate_for_close_updates_far_from_zero() -> None:
    base = np.full(20_000, 1000.0, dtype=np.float32)
    updates = np.ascontiguousarray(base + _updates(6, 20_000) * 1e-2)
    exact = updates.astype(np.float64)
    reference = ((exact[:, None, :] - exact[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(pairwise_squared_distances(updates=updates), reference, rtol=1e-4)
    flower = compute_distances([ArrayRecord([row]) for row in updates])
    assert np.max(np.abs(flower - reference) / reference.max()) > 1e-2  # Flower's float32 is not


def test_krum_picks_what_flower_picks() -> None:
    updates = _updates(9)
    updates[0] += 50.0
    scores = krum_scores(updates=updates, num_malicious=2)
    d = compute_distances([ArrayRecord([row]) for row in updates])
    flower = [np.sum(np.sort(row)[1:6]) for row in d]
    np.testing.assert_allclose(scores, flower, rtol=1e-4)
    chosen = multi_krum_select(updates=updates, num_malicious=2, num_selected=3)
    assert chosen.tolist() == np.argsort(flower)[:3].tolist()
    assert np.array_equal(krum(updates=updates, num_malicious=2), updates[chosen[0]])
    mean = multi_krum(updates=updates, weights=np.ones(9), num_malicious=2, num_selected=3)
    np.testing.assert_allclose(mean, updates[chosen].mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("k", "f"), [(3, 0), (7, 1), (12, 2)])
def test_bulyan_matches_flower_to_rounding(k: int, f: int) -> None:
    updates = _updates(k, seed=k)
    theta, beta = k - 2 * f, k - 4 * f
    selected = multi_krum_select(updates=updates, num_malicious=f, num_selected=theta)
    layers = [[updates[i]] for i in selected]
    median = [np.median(np.stack([x[0] for x in layers]), axis=0)]
    expected = aggregate_n_closest_weights(median, layers, beta)[0]
    np.testing.assert_allclose(
        bulyan(updates=updates, num_malicious=f), expected, rtol=1e-5, atol=1e-6
    )
    direct = bulyan_from_selected(updates=updates, selected=selected, beta=beta)
    assert np.array_equal(direct, bulyan(updates=updates, num_malicious=f))


def test_stacking_round_trips_shapes_and_dtypes() -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), np.arange(5, dtype=np.int64)]
    record = ArrayRecord(arrays)
    matrix, layout = stack_updates(updates=[record, arrays])
    assert matrix.shape == (2, 17) and matrix.dtype == np.float32 and matrix.flags.c_contiguous
    assert np.array_equal(matrix[0], matrix[1])
    back = split_flat(flat=matrix[0], layout=layout)
    assert [(b.shape, b.dtype) for b in back] == [((3, 4), np.float32), ((5,), np.int64)]
    assert all(np.array_equal(a, b) for a, b in zip(arrays, back, strict=True))


def test_mismatched_shapes_are_listed_in_one_typed_error() -> None:
    good = [np.zeros((2, 2), np.float32), np.zeros(3, np.float32)]
    bad = [np.zeros((2, 3), np.float32), np.zeros(3, np.float64)]
    with pytest.raises(ShapeMismatchError, match=r"update 1 array '0'.*update 1 array '1'") as err:
        stack_updates(updates=[good, bad])
    assert isinstance(err.value, ConsortiumError) and isinstance(err.value, ValueError)


def test_bad_input_raises_typed_errors() -> None:
    with pytest.raises(TooFewUpdatesError, match="2f\\+3"):
        krum_scores(updates=_updates(4), num_malicious=1)
    with pytest.raises(TooFewUpdatesError, match="4f\\+3"):
        bulyan(updates=_updates(6), num_malicious=1)
    with pytest.raises(InvalidParameterError):
        trimmed_mean(updates=_updates(4), beta=0.5)
    with pytest.raises(InvalidParameterError):
        weighted_mean(updates=_updates(3), weights=[1.0, 2.0])
    with pytest.raises(ShapeMismatchError):
        coordinate_median(updates=_updates(3).astype(np.float64))
    with pytest.raises(ShapeMismatchError):
        coordinate_median(updates=_updates(3)[:, ::2])
    assert issubclass(AggregationInputError, ConsortiumError)
