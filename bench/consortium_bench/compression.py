"""``make bench BENCH=compression``: bytes per round and accuracy cost of update compression.

Task ``digits-cnn``, 5 non-IID participants (Dirichlet 0.5), ``ROUNDS`` rounds in one process
(:func:`consortium_tasks.simulation.simulate`: the real ServerApp and ClientApp, every message
through Flower's protobuf serde), per codec: ``none``; ``q8`` both ways; ``topk`` (1% and 5%,
error feedback) up with ``q8`` down. Bytes are the protobuf size of each message
(``message_to_proto(...).ByteSize()``), per round: training messages down and up, evaluation
messages down. Encode/decode times are for the digits-cnn model's tensors, and for one
1,000,000-value tensor, with the compressors themselves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from consortium_core.compression import build_compressor, decode_tensors, encode_tensors
from consortium_tasks.simulation import InProcessGrid, simulate

__all__ = ["CODECS", "ROUNDS", "run", "table"]

ROUNDS = 20
PARTICIPANTS = 5
PARTITIONER = "dirichlet(0.5)"
CODECS: Mapping[str, Mapping[str, Any]] = {
    "none": {},
    "q8": {"compression.up": "q8", "compression.down": "q8"},
    "topk-5%": {
        "compression.up": "topk",
        "compression.topk-fraction": 0.05,
        "compression.down": "q8",
    },
    "topk-1%": {
        "compression.up": "topk",
        "compression.topk-fraction": 0.01,
        "compression.down": "q8",
    },
}
TIMING_COMPRESSORS = {
    "none": ("none", {}),
    "q8": ("q8", {}),
    "topk-5%": ("topk", {"fraction": 0.05}),
    "topk-1%": ("topk", {"fraction": 0.01}),
}


def run(
    out_dir: Path, *, rounds: int = ROUNDS, codecs: tuple[str, ...] = tuple(CODECS)
) -> dict[str, Any]:
    """Run every codec in ``codecs`` for ``rounds`` rounds; return the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _digits_model_tensors()
    results = []
    for codec in codecs:
        started = time.perf_counter()
        grid = simulate(
            "digits-cnn",
            num_partitions=PARTICIPANTS,
            partitioner_spec=PARTITIONER,
            seed=42,
            run_config={"num-server-rounds": rounds, **CODECS[codec]},
        )
        wall = time.perf_counter() - started
        results.append(
            {
                "codec": codec,
                "run_config": dict(CODECS[codec]),
                **_bytes_per_round(grid, rounds),
                "final_accuracy": grid.round_metrics[rounds]["accuracy"],
                "final_loss": grid.round_metrics[rounds]["loss"],
                "accuracy_per_round": [
                    grid.round_metrics[r]["accuracy"] for r in range(rounds + 1)
                ],
                "run_seconds": wall,
                **_timings(TIMING_COMPRESSORS[codec], model),
            }
        )
    base = next((r for r in results if r["codec"] == "none"), results[0])
    for result in results:
        result["accuracy_cost"] = base["final_accuracy"] - result["final_accuracy"]
        for key in ("train_up_bytes", "train_down_bytes", "evaluate_down_bytes"):
            result[key.replace("_bytes", "_ratio")] = base[key] / max(1, result[key])
    return {
        "task": "digits-cnn",
        "participants": PARTICIPANTS,
        "partitioner": PARTITIONER,
        "rounds": rounds,
        "model_values": int(sum(t.size for t in model.values())),
        "codecs": results,
        "load_average": list(os.getloadavg()),
    }


def _digits_model_tensors() -> dict[str, np.ndarray]:
    from consortium_tasks.digits_cnn.task import build_model

    return {k: v.detach().numpy().copy() for k, v in build_model().state_dict().items()}


def _bytes_per_round(grid: InProcessGrid, rounds: int) -> dict[str, float]:
    train = [m for m in grid.message_bytes if m.message_type == "train"]
    evaluate = [m for m in grid.message_bytes if m.message_type == "evaluate"]
    return {
        "train_up_bytes": sum(m.up for m in train) / rounds,
        "train_down_bytes": sum(m.down for m in train) / rounds,
        "evaluate_down_bytes": sum(m.down for m in evaluate) / rounds,
    }


def _timings(
    spec: tuple[str, Mapping[str, Any]], model: Mapping[str, np.ndarray]
) -> dict[str, float]:
    name, options = spec
    compressor = build_compressor(name, **options)
    big = {"w": np.random.default_rng(0).normal(size=1_000_000).astype(np.float32)}
    timings = {}
    for label, tensors, repeats in (("model", model, 20), ("1m", big, 3)):
        encode_s, decode_s = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            encoded = encode_tensors(tensors=tensors, compressor=compressor)
            t1 = time.perf_counter()
            decode_tensors(parts=encoded.parts, meta=encoded.meta)
            encode_s.append(t1 - t0)
            decode_s.append(time.perf_counter() - t1)
        timings[f"encode_ms_{label}"] = 1000 * float(np.median(encode_s))
        timings[f"decode_ms_{label}"] = 1000 * float(np.median(decode_s))
    return timings


def table(report: Mapping[str, Any]) -> str:
    """The report as a text table, one line per codec."""
    lines = [
        f"digits-cnn ({report['model_values']:,} values), {report['participants']} non-IID "
        f"participants, {report['rounds']} rounds; bytes per round (all participants)",
        f"{'codec':<9} {'train up':>10} {'x':>6} {'train down':>10} {'x':>5} {'eval down':>10} "
        f"{'acc':>6} {'cost':>7} {'enc ms':>7} {'dec ms':>7} {'enc 1M':>7} {'dec 1M':>7}",
    ]
    for r in report["codecs"]:
        lines.append(
            f"{r['codec']:<9} {r['train_up_bytes']:>10,.0f} {r['train_up_ratio']:>6.1f} "
            f"{r['train_down_bytes']:>10,.0f} {r['train_down_ratio']:>5.1f} "
            f"{r['evaluate_down_bytes']:>10,.0f} {r['final_accuracy']:>6.3f} "
            f"{r['accuracy_cost']:>+7.3f} {r['encode_ms_model']:>7.2f} "
            f"{r['decode_ms_model']:>7.2f} "
            f"{r['encode_ms_1m']:>7.1f} {r['decode_ms_1m']:>7.1f}"
        )
    return "\n".join(lines)
