"""Tests of consortium_core.partition: IID and Dirichlet splits, and partitioner specs."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.errors import UnknownNameError
from consortium_core.partition import (
    DirichletPartitioner,
    IidPartitioner,
    dirichlet_partition,
    iid_partition,
    parse_partitioner,
)

LABELS = np.repeat(np.arange(10), 50)


def assert_disjoint_and_covering(parts: list[np.ndarray], num_samples: int) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == num_samples
    assert np.array_equal(np.sort(joined), np.arange(num_samples))


def dominant_class_share(parts: list[np.ndarray], labels: np.ndarray) -> float:
    return float(np.mean([np.bincount(labels[p]).max() / len(p) for p in parts]))


def test_iid_is_disjoint_covering_and_balanced() -> None:
    parts = iid_partition(num_samples=103, num_partitions=4, seed=7)
    assert_disjoint_and_covering(parts, 103)
    assert {len(p) for p in parts} <= {25, 26}


def test_iid_is_deterministic_for_a_seed() -> None:
    first = iid_partition(num_samples=50, num_partitions=3, seed=1)
    again = iid_partition(num_samples=50, num_partitions=3, seed=1)
    other = iid_partition(num_samples=50, num_partitions=3, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_dirichlet_is_disjoint_covering_and_respects_min_size() -> None:
    parts = dirichlet_partition(labels=LABELS, num_partitions=5, alpha=0.5, seed=3, min_size=20)
    assert_disjoint_and_covering(parts, len(LABELS))
    assert min(len(p) for p in parts) >= 20


def test_dirichlet_is_deterministic_for_a_seed() -> None:
    def split(seed: int) -> list[np.ndarray]:
        return dirichlet_partition(labels=LABELS, num_partitions=5, alpha=0.5, seed=seed)

    assert all(np.array_equal(a, b) for a, b in zip(split(4), split(4), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(split(4), split(5), strict=True))


def test_small_alpha_skews_labels_and_large_alpha_does_not() -> None:
    skewed = dirichlet_partition(labels=LABELS, num_partitions=5, alpha=0.1, seed=0)
    near_iid = dirichlet_partition(labels=LABELS, num_partitions=5, alpha=1000.0, seed=0)
    iid = iid_partition(num_samples=len(LABELS), num_partitions=5, seed=0)
    assert dominant_class_share(skewed, LABELS) > 0.35
    assert dominant_class_share(near_iid, LABELS) < 0.2
    assert dominant_class_share(iid, LABELS) < 0.2


def test_dirichlet_refuses_impossible_min_size() -> None:
    with pytest.raises(ValueError, match="at least 200 samples"):
        dirichlet_partition(labels=LABELS, num_partitions=5, alpha=0.5, seed=0, min_size=200)


@pytest.mark.parametrize("num_partitions", [0, 1000])
def test_bad_partition_counts_are_refused(num_partitions: int) -> None:
    with pytest.raises(ValueError, match="partition"):
        iid_partition(num_samples=500, num_partitions=num_partitions, seed=0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("iid", IidPartitioner()),
        ("IID", IidPartitioner()),
        ("dirichlet(0.5)", DirichletPartitioner(alpha=0.5)),
        ("dirichlet:0.5", DirichletPartitioner(alpha=0.5)),
        (" dirichlet( 2 ) ", DirichletPartitioner(alpha=2.0)),
    ],
)
def test_parse_partitioner_reads_specs(spec: str, expected: object) -> None:
    assert parse_partitioner(spec) == expected


def test_spec_round_trips() -> None:
    for spec in ("iid", "dirichlet(0.5)", "dirichlet(10)"):
        assert parse_partitioner(parse_partitioner(spec).spec) == parse_partitioner(spec)


def test_parsed_partitioner_matches_the_function() -> None:
    parts = parse_partitioner("dirichlet(0.3)")(labels=LABELS, num_partitions=4, seed=9)
    direct = dirichlet_partition(labels=LABELS, num_partitions=4, alpha=0.3, seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(parts, direct, strict=True))


def test_unknown_partitioner_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="known: dirichlet, iid"):
        parse_partitioner("shards(3)")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dirichlet(abc)", "alpha must be a positive number, got 'abc'"),
        ("dirichlet(-1)", "alpha must be a positive finite number"),
        ("dirichlet(0)", "alpha must be a positive finite number"),
        ("dirichlet(inf)", "alpha must be a positive finite number"),
        ("dirichlet", "needs alpha"),
        ("dirichlet()", "needs alpha"),
        ("iid(3)", "takes no argument"),
        ("dirichlet((0.5)", "cannot read partitioner"),
    ],
)
def test_bad_specs_get_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_partitioner(spec)
