"""Flower's strategies with only the array aggregation replaced by the kernels of this package.

Each class subclasses its ``flwr.serverapp.strategy`` counterpart and overrides ``aggregate_train``
alone; sampling, ``configure_*``, reply checks, metric aggregation and ``weighted_by_key`` stay
Flower's. Float32 arrays are stacked once into a (K, N) matrix and aggregated by one kernel call;
arrays of any other dtype (integer counters, float64) go through Flower's own per-array maths, so
their values and dtypes are what Flower would return. FedProx, FedAvgM, FedAdam, FedYogi and
FedAdagrad reach FedAvg's ``aggregate_train`` through ``super()``: listing :class:`FastFedAvg`
after them in the bases puts the fast mean under their server-side optimisers.

>>> strategy = FastFedMedian(min_train_nodes=3)
>>> isinstance(strategy, FedMedian), strategy.min_train_nodes
(True, 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from logging import WARNING
from typing import cast

import numpy as np
from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    Bulyan,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    MultiKrum,
)
from flwr.serverapp.strategy.bulyan import aggregate_n_closest_weights
from flwr.serverapp.strategy.fedtrimmedavg import trim_mean
from flwr.serverapp.strategy.multikrum import select_multikrum
from flwr.supercore import log

from .kernels import (
    bulyan_from_selected,
    coordinate_median,
    pairwise_squared_distances,
    scores_from_distances,
    trimmed_mean,
    weighted_mean,
)
from .stacking import split_flat, stack_updates

__all__ = [
    "FastBulyan",
    "FastFedAdagrad",
    "FastFedAdam",
    "FastFedAvg",
    "FastFedAvgM",
    "FastFedMedian",
    "FastFedProx",
    "FastFedTrimmedAvg",
    "FastFedYogi",
    "FastKrum",
    "FastMultiKrum",
    "weighted_mean_of_records",
]


def _arrays_of(content: RecordDict) -> ArrayRecord:
    return cast(ArrayRecord, next(iter(content.array_records.values())))


def _weights_of(contents: list[RecordDict], weighted_by_key: str) -> list[float]:
    return [cast(float, next(iter(c.metric_records.values()))[weighted_by_key]) for c in contents]


class _Stacked:
    """The float32 arrays of K records stacked once; the other arrays listed per record."""

    def __init__(self, contents: list[RecordDict]) -> None:
        records = [_arrays_of(c) for c in contents]
        first = records[0]
        self.keys = list(first.keys())
        self.fast_keys = [k for k in self.keys if np.dtype(first[k].dtype) == np.float32]
        self.other_keys = [k for k in self.keys if k not in set(self.fast_keys)]
        self.records = records
        self.matrix, self.layout = stack_updates(updates=records, keys=self.fast_keys)

    def layers(self, key: str, rows: Iterable[int] | None = None) -> list[np.ndarray]:
        """One non-float32 array of each record (of ``rows``), as Flower reads it."""
        picked = range(len(self.records)) if rows is None else rows
        return [self.records[i][key].numpy() for i in picked]

    def record(self, flat: np.ndarray, others: dict[str, np.ndarray]) -> ArrayRecord:
        """The ArrayRecord of ``flat`` plus ``others``, in the first record's key order."""
        fast = dict(zip(self.fast_keys, split_flat(flat=flat, layout=self.layout), strict=True))
        arrays = {**fast, **others}
        return ArrayRecord({k: Array(np.asarray(arrays[k])) for k in self.keys})


def weighted_mean_of_records(contents: list[RecordDict], weighted_by_key: str) -> ArrayRecord:
    """Flower's ``aggregate_arrayrecords``, with float32 arrays averaged by one gemv."""
    stacked = _Stacked(contents)
    weights = _weights_of(contents, weighted_by_key)
    factors = [w / sum(weights) for w in weights]
    others: dict[str, np.ndarray] = {}
    for key in stacked.other_keys:
        layers = stacked.layers(key)
        total = layers[0] * factors[0]
        for layer, factor in zip(layers[1:], factors[1:], strict=True):
            total += layer * factor
        others[key] = total
    flat = weighted_mean(updates=stacked.matrix, weights=weights)
    return stacked.record(flat, others)


def _distances(stacked: _Stacked) -> np.ndarray:
    distances = pairwise_squared_distances(updates=stacked.matrix)
    for key in stacked.other_keys:
        rows = np.stack([layer.ravel().astype(np.float64) for layer in stacked.layers(key)])
        norms = np.square(rows).sum(axis=1)
        distances += np.maximum(norms[:, None] + norms[None, :] - 2 * rows @ rows.T, 0.0)
    np.fill_diagonal(distances, 0.0)
    return distances


class FastFedAvg(FedAvg):
    """FedAvg whose ArrayRecord average is one BLAS gemv over the stacked float32 updates."""

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate ArrayRecords (fast weighted mean) and MetricRecords (Flower's)."""
        valid_replies, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid_replies:
            return None, None
        contents = [msg.content for msg in valid_replies]
        arrays = weighted_mean_of_records(contents, self.weighted_by_key)
        return arrays, self.train_metrics_aggr_fn(contents, self.weighted_by_key)


class FastFedProx(FedProx, FastFedAvg):
    """FedProx with the fast weighted mean."""


class FastFedAvgM(FedAvgM, FastFedAvg):
    """FedAvgM (server momentum on top of the fast weighted mean)."""


class FastFedAdam(FedAdam, FastFedAvg):
    """FedAdam (server Adam on top of the fast weighted mean)."""


class FastFedYogi(FedYogi, FastFedAvg):
    """FedYogi (server Yogi on top of the fast weighted mean)."""


class FastFedAdagrad(FedAdagrad, FastFedAvg):
    """FedAdagrad (server Adagrad on top of the fast weighted mean)."""


class FastFedMedian(FedMedian):
    """FedMedian whose coordinate-wise median is a sorting network on cache-sized blocks."""

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate ArrayRecords (exact coordinate-wise median) and MetricRecords (Flower's)."""
        valid_replies, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid_replies:
            return None, None
        contents = [msg.content for msg in valid_replies]
        stacked = _Stacked(contents)
        others = {k: np.median(np.stack(stacked.layers(k)), axis=0) for k in stacked.other_keys}
        arrays = stacked.record(coordinate_median(updates=stacked.matrix), others)
        return arrays, self.train_metrics_aggr_fn(contents, self.weighted_by_key)


class FastFedTrimmedAvg(FedTrimmedAvg):
    """FedTrimmedAvg whose trimmed mean is a sorting network on cache-sized blocks."""

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate ArrayRecords (trimmed mean) and MetricRecords (Flower's)."""
        valid_replies, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid_replies:
            return None, None
        contents = [msg.content for msg in valid_replies]
        stacked = _Stacked(contents)
        others = {k: trim_mean(np.stack(stacked.layers(k)), self.beta) for k in stacked.other_keys}
        arrays = stacked.record(trimmed_mean(updates=stacked.matrix, beta=self.beta), others)
        return arrays, self.train_metrics_aggr_fn(contents, self.weighted_by_key)


class FastMultiKrum(MultiKrum):
    """MultiKrum with accurate blocked-Gram distances and the fast weighted mean.

    With fewer than ``2f + 3`` replies Krum's guarantee does not hold; Flower still answers, so
    this class then hands the round to Flower's own implementation (and logs a warning).
    """

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Select by Krum scores, then average the selected ArrayRecords and MetricRecords."""
        valid_replies, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid_replies:
            return None, None
        if len(valid_replies) < 2 * self.num_malicious_nodes + 3:
            log(WARNING, "Krum needs at least 2f+3 replies; using Flower's aggregation")
            return super().aggregate_train(server_round, valid_replies)
        contents = [msg.content for msg in valid_replies]
        stacked = _Stacked(contents)
        scores = scores_from_distances(
            distances=_distances(stacked), num_malicious=self.num_malicious_nodes
        )
        chosen = np.argsort(scores, kind="stable")[: self.num_nodes_to_select]
        selected = [contents[int(i)] for i in chosen]
        return (
            weighted_mean_of_records(selected, self.weighted_by_key),
            self.train_metrics_aggr_fn(selected, self.weighted_by_key),
        )


class FastKrum(Krum, FastMultiKrum):
    """Krum (MultiKrum selecting one) with the fast kernels."""


class FastBulyan(Bulyan):
    """Bulyan with accurate Multi-Krum selection and a sorting-network trimmed stage.

    A custom ``selection_rule`` (not Multi-Krum) hands the round to Flower's implementation.
    """

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate ArrayRecords (Bulyan) and the selected replies' MetricRecords (Flower's)."""
        valid_replies, _ = self._check_and_log_replies(replies, is_train=True)
        f = self.num_malicious_nodes
        if len(valid_replies) < 4 * f + 3 or self.selection_rule is not select_multikrum:
            return super().aggregate_train(server_round, valid_replies)
        contents = [msg.content for msg in valid_replies]
        stacked = _Stacked(contents)
        theta = len(contents) - 2 * f
        beta = theta - 2 * f
        scores = scores_from_distances(distances=_distances(stacked), num_malicious=f)
        chosen = [int(i) for i in np.argsort(scores, kind="stable")[:theta]]
        others: dict[str, np.ndarray] = {}
        for key in stacked.other_keys:
            layers = stacked.layers(key, chosen)
            median = np.median(np.stack(layers), axis=0)
            others[key] = aggregate_n_closest_weights([median], [[x] for x in layers], beta)[0]
        flat = bulyan_from_selected(updates=stacked.matrix, selected=chosen, beta=beta)
        selected = [contents[i] for i in chosen]
        return (
            stacked.record(flat, others),
            self.train_metrics_aggr_fn(selected, self.weighted_by_key),
        )
