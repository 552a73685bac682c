"""Splitting a data set among simulated participants: IID and Dirichlet label skew.

Pure numpy, deterministic for a seed. A partitioner returns one array of sample indices per
participant; the arrays are disjoint, sorted and together cover every sample.

>>> parts = iid_partition(num_samples=10, num_partitions=3, seed=0)
>>> [len(p) for p in parts]
[4, 3, 3]
>>> sorted(np.concatenate(parts).tolist()) == list(range(10))
True
>>> parse_partitioner("dirichlet(0.5)")
DirichletPartitioner(alpha=0.5, min_size=10)
>>> parse_partitioner("iid").spec
'iid'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import UnknownNameError

__all__ = [
    "PARTITIONERS",
    "DirichletPartitioner",
    "IidPartitioner",
    "Partitioner",
    "dirichlet_partition",
    "iid_partition",
    "parse_partitioner",
]

MAX_DIRICHLET_DRAWS = 1000
_SPEC = re.compile(r"^\s*([A-Za-z_-]+)\s*(?:\(\s*([^()]*?)\s*\)|:\s*(.*?))?\s*$")


def iid_partition(*, num_samples: int, num_partitions: int, seed: int) -> list[np.ndarray]:
    """Shuffle ``range(num_samples)`` and cut it into ``num_partitions`` near-equal parts.

    >>> [p.tolist() for p in iid_partition(num_samples=5, num_partitions=2, seed=1)]
    [[0, 1, 4], [2, 3]]
    """
    _check_counts(num_samples=num_samples, num_partitions=num_partitions)
    order = np.random.default_rng(seed).permutation(num_samples)
    return [np.sort(part) for part in np.array_split(order, num_partitions)]


def dirichlet_partition(
    *,
    labels: np.ndarray,
    num_partitions: int,
    alpha: float,
    seed: int,
    min_size: int = 10,
) -> list[np.ndarray]:
    """Label-skewed split: each class is shared out with proportions drawn from Dir(alpha).

    The usual scheme (Hsu et al. 2019; Yurochkin et al. 2019): for every class, draw
    ``p ~ Dirichlet(alpha * 1)`` over the partitions, give no more of it to partitions that
    already hold their fair share (``len(labels) / num_partitions``), and cut the class's shuffled
    indices at the cumulative proportions. Draw again until every partition has at least
    ``min_size`` samples. Small ``alpha`` means strong skew; large ``alpha`` tends to IID.

    >>> labels = np.repeat(np.arange(4), 25)
    >>> parts = dirichlet_partition(labels=labels, num_partitions=4, alpha=0.3, seed=0)
    >>> sum(len(p) for p in parts), min(len(p) for p in parts) >= 10
    (100, True)
    """
    labels = np.asarray(labels)
    _check_counts(num_samples=len(labels), num_partitions=num_partitions)
    _check_alpha(alpha)
    if min_size * num_partitions > len(labels):
        raise ValueError(
            f"cannot give {num_partitions} partitions at least {min_size} samples each "
            f"from {len(labels)} samples"
        )
    rng = np.random.default_rng(seed)
    for _ in range(MAX_DIRICHLET_DRAWS):
        parts = _draw_dirichlet_split(labels, num_partitions, alpha, rng)
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise ValueError(
        f"no Dirichlet(alpha={alpha}) split of {len(labels)} samples into {num_partitions} "
        f"partitions gave each at least {min_size} samples in {MAX_DIRICHLET_DRAWS} draws; "
        "use a larger alpha, fewer partitions or a smaller min_size"
    )


def _draw_dirichlet_split(
    labels: np.ndarray, num_partitions: int, alpha: float, rng: np.random.Generator
) -> list[list[int]]:
    parts: list[list[int]] = [[] for _ in range(num_partitions)]
    fair_share = len(labels) / num_partitions
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        shares = rng.dirichlet(np.full(num_partitions, alpha))
        shares = np.where([len(p) < fair_share for p in parts], shares, 0.0)
        shares = shares / shares.sum()
        cuts = (np.cumsum(shares) * len(members)).astype(int)[:-1]
        for part, chunk in zip(parts, np.split(members, cuts), strict=True):
            part.extend(chunk.tolist())
    return parts


def _check_counts(*, num_samples: int, num_partitions: int) -> None:
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be at least 1, got {num_partitions}")
    if num_samples < num_partitions:
        raise ValueError(f"cannot split {num_samples} samples into {num_partitions} partitions")


def _check_alpha(alpha: float) -> None:
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"Dirichlet alpha must be a positive finite number, got {alpha!r}")


class Partitioner(Protocol):
    """Anything that splits labelled samples into index arrays, one per participant."""

    @property
    def spec(self) -> str:
        """The text form accepted by :func:`parse_partitioner`."""

    def __call__(self, *, labels: np.ndarray, num_partitions: int, seed: int) -> list[np.ndarray]:
        """Return ``num_partitions`` disjoint sorted index arrays covering ``labels``."""


@dataclass(frozen=True)
class IidPartitioner:
    """Uniformly random split, ignoring labels."""

    @classmethod
    def from_argument(cls, argument: str | None) -> IidPartitioner:
        """Build from the text in ``iid``; it takes no argument."""
        if argument:
            raise ValueError(f"partitioner 'iid' takes no argument, got {argument!r}")
        return cls()

    @property
    def spec(self) -> str:
        """The text form, ``iid``."""
        return "iid"

    def __call__(self, *, labels: np.ndarray, num_partitions: int, seed: int) -> list[np.ndarray]:
        """Split ``range(len(labels))`` uniformly at random."""
        return iid_partition(num_samples=len(labels), num_partitions=num_partitions, seed=seed)


@dataclass(frozen=True)
class DirichletPartitioner:
    """Dirichlet(alpha) label-skew split; see :func:`dirichlet_partition`."""

    alpha: float
    min_size: int = 10

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)

    @classmethod
    def from_argument(cls, argument: str | None) -> DirichletPartitioner:
        """Build from the text in ``dirichlet(<alpha>)`` or ``dirichlet:<alpha>``."""
        if not argument:
            raise ValueError("partitioner 'dirichlet' needs alpha, e.g. 'dirichlet(0.5)'")
        try:
            alpha = float(argument)
        except ValueError:
            raise ValueError(
                f"Dirichlet alpha must be a positive number, got {argument!r}"
            ) from None
        return cls(alpha=alpha)

    @property
    def spec(self) -> str:
        """The text form, e.g. ``dirichlet(0.5)``."""
        return f"dirichlet({self.alpha:g})"

    def __call__(self, *, labels: np.ndarray, num_partitions: int, seed: int) -> list[np.ndarray]:
        """Split by label with Dirichlet(alpha) proportions."""
        return dirichlet_partition(
            labels=labels,
            num_partitions=num_partitions,
            alpha=self.alpha,
            seed=seed,
            min_size=self.min_size,
        )


PARTITIONERS: Mapping[str, type[IidPartitioner] | type[DirichletPartitioner]] = {
    "iid": IidPartitioner,
    "dirichlet": DirichletPartitioner,
}


def parse_partitioner(spec: str) -> IidPartitioner | DirichletPartitioner:
    """Turn ``"iid"``, ``"dirichlet(0.5)"`` or ``"dirichlet:0.5"`` into a partitioner.

    >>> parse_partitioner("dirichlet:1").spec
    'dirichlet(1)'
    >>> parse_partitioner("shards(2)")
    Traceback (most recent call last):
    ...
    consortium_core.errors.UnknownNameError: unknown partitioner 'shards'; known: dirichlet, iid
    """
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(
            f"cannot read partitioner {spec!r}; write e.g. 'iid', 'dirichlet(0.5)' or "
            "'dirichlet:0.5'"
        )
    name, in_parens, after_colon = match.groups()
    factory = PARTITIONERS.get(name.lower())
    if factory is None:
        raise UnknownNameError("partitioner", name, PARTITIONERS)
    argument = in_parens if in_parens is not None else after_colon
    return factory.from_argument(argument)
