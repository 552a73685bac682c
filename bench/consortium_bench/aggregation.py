"""``make bench BENCH=aggregation``: the aggregation kernels against numpy and Flower's own maths.

K=20 updates of N=11,689,512 float32 parameters (ResNet-18). A rate is the effective read rate
``K * N * 4 bytes / seconds`` (median of repeats); stacking a list of arrays into the matrix is
timed on its own (``stack_gb_s``). Slow baselines run fewer repeats.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from consortium_core.aggregation import (
    bulyan,
    coordinate_median,
    krum,
    stack_updates,
    trimmed_mean,
    weighted_mean,
)
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from flwr.server.strategy.aggregate import aggregate_krum, aggregate_median
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

__all__ = ["GOALS", "run", "table"]

GOALS = {"fedavg_gb_s": 12.0, "median_gb_s": 1.0, "krum_gb_s": 4.0}


def _rate(fn: Callable[[], object], *, nbytes: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return nbytes / statistics.median(times) / 1e9


def _naive_mean(arrays: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    total = arrays[0] * weights[0]
    for array, weight in zip(arrays[1:], weights[1:], strict=True):
        total += array * weight
    return total


def run(
    out_dir: Path, *, clients: int = 20, params: int = 11_689_512, repeats: int = 5
) -> dict[str, Any]:
    """Time every kernel and baseline on ``clients`` random updates of ``params`` parameters."""
    del out_dir
    rng = np.random.default_rng(0)
    updates = rng.standard_normal((clients, params), dtype=np.float32)
    rows = list(updates)
    weights = rng.integers(1, 1000, size=clients).astype(np.float64)
    nbytes = updates.nbytes
    slow = max(1, repeats // 3)
    out = np.empty(params, dtype=np.float32)
    report: dict[str, Any] = {"clients": clients, "params": params, "bytes": nbytes}
    report["stack_gb_s"] = _rate(
        lambda: stack_updates(updates=[[r] for r in rows], out=np.empty_like(updates)),
        nbytes=nbytes,
        repeats=repeats,
    )
    report["fedavg_gb_s"] = _rate(
        lambda: weighted_mean(updates=updates, weights=weights), nbytes=nbytes, repeats=repeats
    )
    report["fedavg_out_gb_s"] = _rate(
        lambda: weighted_mean(updates=updates, weights=weights, out=out),
        nbytes=nbytes,
        repeats=repeats,
    )
    report["naive_fedavg_gb_s"] = _rate(
        lambda: _naive_mean(rows, weights / weights.sum()), nbytes=nbytes, repeats=slow
    )
    report["median_gb_s"] = _rate(
        lambda: coordinate_median(updates=updates), nbytes=nbytes, repeats=repeats
    )
    report["np_median_gb_s"] = _rate(lambda: np.median(updates, axis=0), nbytes=nbytes, repeats=1)
    report["trimmed_mean_gb_s"] = _rate(
        lambda: trimmed_mean(updates=updates, beta=0.2), nbytes=nbytes, repeats=slow
    )
    report["krum_gb_s"] = _rate(
        lambda: krum(updates=updates, num_malicious=2), nbytes=nbytes, repeats=repeats
    )
    report["bulyan_gb_s"] = _rate(
        lambda: bulyan(updates=updates, num_malicious=2), nbytes=nbytes, repeats=slow
    )
    records = [
        RecordDict(
            {"arrays": ArrayRecord({"w": Array(r)}), "metrics": MetricRecord({"n": float(w)})}
        )
        for r, w in zip(rows, weights, strict=True)
    ]
    report["flower_fedavg_gb_s"] = _rate(
        lambda: aggregate_arrayrecords(records, "n"), nbytes=nbytes, repeats=slow
    )
    results = [([r], int(w)) for r, w in zip(rows, weights, strict=True)]
    report["flower_median_gb_s"] = _rate(
        lambda: aggregate_median(results), nbytes=nbytes, repeats=1
    )
    report["flower_krum_gb_s"] = _rate(
        lambda: aggregate_krum(results, 2, 0), nbytes=nbytes, repeats=1
    )
    report["threads"] = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    report["cpu_count"] = os.cpu_count()
    report["numpy"] = np.__version__
    report["blas"] = _blas_info()
    report["goals"] = {
        key: {"goal": goal, "got": report[key], "met": report[key] >= goal}
        for key, goal in GOALS.items()
    }
    return report


def _blas_info() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def table(report: Mapping[str, Any]) -> str:
    """The rates, one per line, and the goals."""
    lines = [f"{k:24s} {v:8.2f} GB/s" for k, v in report.items() if k.endswith("_gb_s")]
    lines += [
        f"goal {k}: {g['got']:.2f} >= {g['goal']} {'met' if g['met'] else 'NOT met'}"
        for k, g in report["goals"].items()
    ]
    return "\n".join(lines)
