"""Benchmark ``shapley``: GTG-Shapley (and truncated Monte Carlo, leave-one-out) against exact
Shapley values on constructed federations of 5 to 8 participants.

Each federation (:mod:`consortium_bench.federation`: softmax regression on scikit-learn's
digits, participants of 100-200 examples whose labels are randomly replaced at graded rates
from 0 to 60 %, the last one with shuffled labels, so that the true ranking is known) runs
``ROUNDS`` FedAvg
rounds; every round is scored by every estimator on the same utility (validation accuracy of
each coalition's FedAvg model, 400 held-out digits). Reported per federation size and overall:

* ``spearman_vs_exact``: Spearman rank correlation between GTG's and exact's values summed over
  the job's rounds (what a contribution ledger pays out), the worst over the sizes;
* ``eval_fraction``: coalition models GTG evaluated over the ``2**n`` per round exact needs,
  summed over rounds, the worst over the sizes;
* ``gtg_seconds_per_round`` against ``round_seconds`` (the round's own local training and
  aggregation here), and the same for exact.

Goals (the issue): Spearman >= 0.95, eval fraction <= 0.10.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from consortium_core.contribution import estimate
from scipy.stats import spearmanr

from .federation import build_federation

__all__ = ["run", "table"]

ROUNDS = 10
SIZES = (5, 6, 7, 8)
METHODS = ("exact", "gtg", "tmc", "loo")
GOALS = {"spearman_vs_exact": 0.95, "eval_fraction": 0.10}


def _federation_run(n: int, rounds: int) -> dict[str, Any]:
    rng = np.random.default_rng(n)
    sizes = [int(s) for s in rng.integers(100, 200, size=n)]
    # graded quality: participant i has a known share of random labels, the last all shuffled
    noise = [float(x) for x in rng.permutation(np.linspace(0.0, 0.6, n - 1))] + [0.0]
    federation = build_federation(sizes, shuffled=[n - 1], label_noise=noise, seed=n)
    model = federation.initial()
    totals = {m: np.zeros(n) for m in METHODS}
    evaluations = dict.fromkeys(METHODS, 0)
    seconds = dict.fromkeys(METHODS, 0.0)
    round_seconds = 0.0
    per_round_rho: list[float] = []
    truncated = 0
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        round_ = federation.round(model)
        model = round_.fedavg()
        round_seconds += time.perf_counter() - started
        results = {}
        for method in METHODS:
            started = time.perf_counter()
            results[method] = estimate(method, round_.utility(), seed=number)
            seconds[method] += time.perf_counter() - started
            totals[method] += results[method].values
            evaluations[method] += results[method].evaluations
        truncated += results["gtg"].truncated
        if not results["gtg"].truncated:
            rho = spearmanr(results["exact"].values, results["gtg"].values).statistic
            per_round_rho.append(float(rho))
    exact_total = totals["exact"]
    return {
        "participants": n,
        "sizes": sizes,
        "label_noise": [round(x, 3) for x in noise],
        "shuffled": n - 1,
        "rounds": rounds,
        "gtg_truncated_rounds": truncated,
        "spearman_vs_exact": {
            m: float(spearmanr(exact_total, totals[m]).statistic) for m in METHODS if m != "exact"
        },
        "spearman_per_round_gtg_mean": mean(per_round_rho) if per_round_rho else None,
        "eval_fraction": {m: evaluations[m] / (rounds * 2**n) for m in METHODS},
        "seconds_per_round": {m: seconds[m] / rounds for m in METHODS},
        "round_seconds": round_seconds / rounds,
        "lowest_is_shuffled": {m: int(np.argmin(totals[m])) == n - 1 for m in METHODS},
        "values": {m: [round(float(x), 5) for x in totals[m]] for m in METHODS},
    }


def run(out_dir: Path, *, rounds: int = ROUNDS) -> dict[str, Any]:
    per_size = [_federation_run(n, rounds) for n in SIZES]
    spearman = min(r["spearman_vs_exact"]["gtg"] for r in per_size)
    fraction = max(r["eval_fraction"]["gtg"] for r in per_size)
    gtg_s = mean(r["seconds_per_round"]["gtg"] for r in per_size)
    round_s = mean(r["round_seconds"] for r in per_size)
    return {
        "benchmark": "shapley",
        "utility": "validation accuracy (400 digits) of each coalition's FedAvg model",
        "spearman_vs_exact": spearman,
        "eval_fraction": fraction,
        "goals": GOALS,
        "goals_met": {
            "spearman_vs_exact": spearman >= GOALS["spearman_vs_exact"],
            "eval_fraction": fraction <= GOALS["eval_fraction"],
        },
        "gtg_seconds_per_round": gtg_s,
        "exact_seconds_per_round": mean(r["seconds_per_round"]["exact"] for r in per_size),
        "round_seconds": round_s,
        "gtg_over_round_x": gtg_s / round_s if round_s else None,
        "per_size": per_size,
    }


def table(report: Mapping[str, Any]) -> str:
    lines = [
        "participants  gtg rho  gtg evals  tmc rho  tmc evals  loo rho  truncated  shuffled lowest",
    ]
    for r in report["per_size"]:
        lines.append(
            f"{r['participants']:>12}  {r['spearman_vs_exact']['gtg']:>7.3f}  "
            f"{r['eval_fraction']['gtg']:>9.3f}  {r['spearman_vs_exact']['tmc']:>7.3f}  "
            f"{r['eval_fraction']['tmc']:>9.3f}  {r['spearman_vs_exact']['loo']:>7.3f}  "
            f"{r['gtg_truncated_rounds']:>6}/{r['rounds']:<2}  "
            f"{'yes' if r['lowest_is_shuffled']['gtg'] else 'NO'}"
        )
    met = report["goals_met"]
    lines.append(
        f"spearman_vs_exact {report['spearman_vs_exact']:.3f} (goal >= 0.95: "
        f"{'met' if met['spearman_vs_exact'] else 'NOT met'}); eval_fraction "
        f"{report['eval_fraction']:.3f} (goal <= 0.10: "
        f"{'met' if met['eval_fraction'] else 'NOT met'})"
    )
    lines.append(
        f"GTG {report['gtg_seconds_per_round'] * 1000:.1f} ms per round, exact "
        f"{report['exact_seconds_per_round'] * 1000:.1f} ms, the round itself "
        f"{report['round_seconds'] * 1000:.1f} ms"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consortium_bench.shapley")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    report = run(args.out, rounds=args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shapley.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
