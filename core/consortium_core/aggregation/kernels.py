"""Aggregation rules over a stacked (K, N) float32 update matrix: pure numpy, keyword-only.

K clients' updates are the rows of ``updates`` (see :func:`~.stacking.stack_updates`). Results
follow Flower's strategies (``flwr.serverapp.strategy``):

- :func:`weighted_mean` (FedAvg) is one BLAS ``sgemv`` of the normalised weights with the matrix;
- :func:`coordinate_median` (FedMedian) equals ``np.median(updates, axis=0)`` bit for bit;
- :func:`trimmed_mean` (FedTrimmedAvg) drops ``int(beta * K)`` values at each end of every column;
- :func:`krum_scores`, :func:`multi_krum_select`, :func:`krum`, :func:`multi_krum` (Krum,
  MultiKrum) use squared distances from a Gram matrix, rows centred per block and accumulated in
  float64 so that close updates keep accurate distances;
- :func:`bulyan` (Bulyan) selects ``K - 2f`` updates by Multi-Krum, then averages per coordinate
  the ``K - 4f`` values closest to their median.

Order statistics run a pruned sorting network of ``np.minimum``/``np.maximum`` on cache-sized
column blocks (:mod:`.networks`). Inputs must be finite (NaN has no order; validation refuses it).

>>> import numpy as np
>>> u = np.array([[1, 10], [2, 20], [3, 30], [100, -5]], dtype=np.float32)
>>> weighted_mean(updates=u, weights=[1, 1, 1, 1]).tolist()
[26.5, 13.75]
>>> coordinate_median(updates=u).tolist()
[2.5, 15.0]
>>> trimmed_mean(updates=u, beta=0.25).tolist()
[2.5, 15.0]
>>> multi_krum_select(updates=u, num_malicious=0, num_selected=1).tolist()
[1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InvalidParameterError, ShapeMismatchError, TooFewUpdatesError
from .networks import for_each_block, pruned_network

__all__ = [
    "bulyan",
    "bulyan_from_selected",
    "coordinate_median",
    "krum",
    "krum_scores",
    "multi_krum",
    "multi_krum_select",
    "pairwise_squared_distances",
    "scores_from_distances",
    "trimmed_mean",
    "weighted_mean",
]

WeightsLike = Sequence[float] | np.ndarray


def _check_matrix(updates: np.ndarray, *, at_least: int = 1) -> tuple[int, int]:
    if not isinstance(updates, np.ndarray) or updates.ndim != 2 or updates.dtype != np.float32:
        raise ShapeMismatchError(
            "updates must be a (K, N) float32 matrix, got "
            f"{getattr(updates, 'dtype', type(updates).__name__)}{list(np.shape(updates))}"
        )
    if not updates.flags.c_contiguous:
        raise ShapeMismatchError("updates must be C-contiguous (rows of one client each)")
    k, n = updates.shape
    if k < at_least:
        raise TooFewUpdatesError(f"needs at least {at_least} updates, got {k}")
    return k, n


def _normalised(weights: WeightsLike, count: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (count,):
        raise InvalidParameterError(f"expected {count} weights, got shape {list(w.shape)}")
    total = float(w.sum())
    if not np.all(np.isfinite(w)) or np.any(w < 0) or total <= 0:
        raise InvalidParameterError("weights must be finite, non-negative and not all zero")
    return (w / total).astype(np.float32)


def _output(out: np.ndarray | None, n: int) -> np.ndarray:
    if out is None:
        return np.empty(n, dtype=np.float32)
    if out.shape != (n,) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ShapeMismatchError(f"out must be a contiguous float32 vector of {n}")
    return out


def weighted_mean(
    *, updates: np.ndarray, weights: WeightsLike, out: np.ndarray | None = None
) -> np.ndarray:
    """FedAvg: ``sum_k w_k x_k / sum_k w_k`` over the rows, as one BLAS gemv (float32).

    Zero weights drop a row exactly (Multi-Krum uses this to average a subset without copying).
    """
    k, n = _check_matrix(updates)
    factors = _normalised(weights, k)
    return np.dot(factors, updates, out=_output(out, n))


def coordinate_median(*, updates: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """FedMedian: ``np.median(updates, axis=0)`` exactly (even K averages the two middle values)."""
    k, n = _check_matrix(updates)
    result = _output(out, n)
    low, high = (k - 1) // 2, k // 2
    network = pruned_network(size=k, ranks=tuple(sorted({low, high})))

    def consume(wires: list[np.ndarray], start: int, stop: int) -> None:
        target = result[start:stop]
        if low == high:
            np.copyto(target, wires[low])
        else:
            np.add(wires[low], wires[high], out=target)
            np.divide(target, 2, out=target)

    for_each_block(updates=updates, network=network, consume=consume)
    return result


def trimmed_mean(*, updates: np.ndarray, beta: float, out: np.ndarray | None = None) -> np.ndarray:
    """FedTrimmedAvg: drop ``int(beta * K)`` smallest and largest values per coordinate, average.

    Equals ``np.mean(np.sort(updates, axis=0)[cut:K - cut], axis=0)`` bit for bit (the kept values
    are summed in ascending order in float32). Flower's ``trim_mean`` sums them in the order
    ``np.partition`` leaves them, so the two agree to float32 rounding, not always bit for bit.
    """
    k, n = _check_matrix(updates)
    if not 0.0 <= beta < 0.5:
        raise InvalidParameterError(f"beta must be in [0, 0.5), got {beta}")
    cut = int(beta * k)
    kept = range(cut, k - cut)
    result = _output(out, n)
    network = pruned_network(size=k, ranks=tuple(kept))
    count = np.float32(len(kept))

    def consume(wires: list[np.ndarray], start: int, stop: int) -> None:
        target = result[start:stop]
        np.copyto(target, wires[kept[0]])
        for rank in kept[1:]:
            np.add(target, wires[rank], out=target)
        np.divide(target, count, out=target)

    for_each_block(updates=updates, network=network, consume=consume)
    return result


GRAM_BLOCK_COLUMNS = 16_384


def pairwise_squared_distances(*, updates: np.ndarray) -> np.ndarray:
    """Squared L2 distances between rows, (K, K) float64, via a blocked Gram matrix.

    ``||xi - xj||^2 = ||xi||^2 + ||xj||^2 - 2 xi.xj`` loses everything to cancellation when the
    updates are close to each other and far from zero, so each column block is first centred on
    its own mean (distances do not change under a per-coordinate shift; shifting by one row
    instead fails when that row is the outlier); each block's float32 Gram product (BLAS) is
    accumulated in float64. Blocks of 16,384 columns measured fastest here.
    """
    k, n = _check_matrix(updates)
    width = min(n, GRAM_BLOCK_COLUMNS)
    gram = np.zeros((k, k), dtype=np.float64)
    centred = np.empty((k, width), dtype=np.float32)
    mean = np.empty(width, dtype=np.float32)
    inv_k = np.float32(1.0 / k)
    for start in range(0, n, width):
        stop = min(n, start + width)
        block, c, m = updates[:, start:stop], centred[:, : stop - start], mean[: stop - start]
        np.sum(block, axis=0, out=m)
        np.multiply(m, inv_k, out=m)
        np.subtract(block, m, out=c)
        gram += np.dot(c, c.T)
    norms = np.diag(gram).copy()
    distances = norms[:, None] + norms[None, :] - 2.0 * gram
    np.maximum(distances, 0.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    return distances


def _check_krum(k: int, num_malicious: int) -> None:
    if num_malicious < 0:
        raise InvalidParameterError(f"num_malicious must be >= 0, got {num_malicious}")
    if k < 2 * num_malicious + 3:
        raise TooFewUpdatesError(
            f"Krum with f={num_malicious} malicious clients needs K >= 2f+3 = "
            f"{2 * num_malicious + 3} updates, got {k}"
        )


def scores_from_distances(*, distances: np.ndarray, num_malicious: int) -> np.ndarray:
    """Krum scores: each row's summed distances to its ``K - f - 2`` nearest other rows."""
    k = distances.shape[0]
    _check_krum(k, num_malicious)
    closest = k - num_malicious - 2
    others = np.where(np.eye(k, dtype=bool), np.inf, distances)
    nearest = np.sort(others, axis=1)[:, :closest]
    return np.asarray(nearest.sum(axis=1), dtype=np.float64)


def krum_scores(*, updates: np.ndarray, num_malicious: int) -> np.ndarray:
    """Krum scores of the rows (lower is more central); needs ``K >= 2f + 3``."""
    k, _ = _check_matrix(updates)
    _check_krum(k, num_malicious)
    distances = pairwise_squared_distances(updates=updates)
    return scores_from_distances(distances=distances, num_malicious=num_malicious)


def _select(scores: np.ndarray, num_selected: int) -> np.ndarray:
    if not 1 <= num_selected <= scores.shape[0]:
        raise InvalidParameterError(
            f"num_selected must be in [1, {scores.shape[0]}], got {num_selected}"
        )
    return np.argsort(scores, kind="stable")[:num_selected]


def multi_krum_select(*, updates: np.ndarray, num_malicious: int, num_selected: int) -> np.ndarray:
    """Indices of the ``num_selected`` lowest Krum scores, best first (Flower's order)."""
    return _select(krum_scores(updates=updates, num_malicious=num_malicious), num_selected)


def multi_krum(
    *,
    updates: np.ndarray,
    weights: WeightsLike,
    num_malicious: int,
    num_selected: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """MultiKrum: the weighted mean of the ``num_selected`` rows with the lowest Krum scores."""
    k, _ = _check_matrix(updates)
    chosen = multi_krum_select(
        updates=updates, num_malicious=num_malicious, num_selected=num_selected
    )
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k,):
        raise InvalidParameterError(f"expected {k} weights, got shape {list(w.shape)}")
    masked = np.zeros(k, dtype=np.float64)
    masked[chosen] = w[chosen]
    return weighted_mean(updates=updates, weights=masked, out=out)


def krum(*, updates: np.ndarray, num_malicious: int) -> np.ndarray:
    """Krum: a copy of the row with the lowest Krum score."""
    chosen = multi_krum_select(updates=updates, num_malicious=num_malicious, num_selected=1)
    return updates[int(chosen[0])].copy()


def bulyan_from_selected(
    *,
    updates: np.ndarray,
    selected: Sequence[int] | np.ndarray,
    beta: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Per coordinate, the mean of the ``beta`` values of rows ``selected`` closest to their median.

    The closest values form a window of the sorted column; ties in distance keep the lower value.
    The window is summed in ascending order in float32, so the result agrees with Flower's
    ``aggregate_n_closest_weights`` (which sums in ``np.argpartition`` order) to float32 rounding.
    """
    _, n = _check_matrix(updates)
    rows = [int(r) for r in selected]
    theta = len(rows)
    if not 1 <= beta <= theta:
        raise InvalidParameterError(f"beta must be in [1, {theta}], got {beta}")
    result = _output(out, n)
    network = pruned_network(size=theta, ranks=tuple(range(theta)))
    low, high = (theta - 1) // 2, theta // 2
    count = np.float32(beta)

    def consume(wires: list[np.ndarray], start: int, stop: int) -> None:
        median = (wires[low] + wires[high]) / np.float32(2) if low != high else wires[low]
        first = np.zeros(stop - start, dtype=np.int64)
        for shift in range(theta - beta):
            first += np.abs(wires[shift] - median) > np.abs(wires[shift + beta] - median)
        target = result[start:stop]
        target.fill(0)
        for rank in range(theta):
            inside = (first <= rank) & (rank < first + beta)
            np.add(target, np.where(inside, wires[rank], np.float32(0)), out=target)
        np.divide(target, count, out=target)

    for_each_block(updates=updates, network=network, consume=consume, rows=rows)
    return result


def bulyan(*, updates: np.ndarray, num_malicious: int, out: np.ndarray | None = None) -> np.ndarray:
    """Bulyan: Multi-Krum picks ``theta = K - 2f`` rows, then the per-coordinate mean of the
    ``K - 4f`` values closest to their median; needs ``K >= 4f + 3``."""
    k, _ = _check_matrix(updates)
    if num_malicious < 0:
        raise InvalidParameterError(f"num_malicious must be >= 0, got {num_malicious}")
    if k < 4 * num_malicious + 3:
        raise TooFewUpdatesError(
            f"Bulyan with f={num_malicious} malicious clients needs K >= 4f+3 = "
            f"{4 * num_malicious + 3} updates, got {k}"
        )
    theta = k - 2 * num_malicious
    selected = multi_krum_select(updates=updates, num_malicious=num_malicious, num_selected=theta)
    return bulyan_from_selected(
        updates=updates, selected=selected, beta=theta - 2 * num_malicious, out=out
    )
