"""Benchmark ``robust``: model poisoning against FedAvg and the robust strategies.

Ten participants train task ``digits-cnn`` on Dirichlet(1.0) partitions of scikit-learn's
digits in the in-process simulator (the real built-in ServerApp and ClientApp); two of them
(partitions 0 and 1) poison every update (:mod:`consortium_tasks.attacks`): ``sign-flip`` sends
``received - 4 * delta``, ``scale`` sends ``received + 10 * delta``. Each strategy runs clean
and under each attack; the figure is the held-out accuracy after the last round.

The goal (the algorithms issue): under attack FedAvg falls, and a robust strategy stays within
3 points of the clean FedAvg run. ``holding`` says, per strategy and attack, whether it does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from consortium_tasks.attacks import DEFAULT_FACTORS, PoisonedClientApp
from consortium_tasks.registry import get_task, load_app
from consortium_tasks.simulation import simulate

__all__ = ["STRATEGY_OPTIONS", "poisoned_accuracy", "run", "table"]

TASK = "digits-cnn"
PARTICIPANTS = 10
ATTACKERS = (0, 1)
ROUNDS = 8
PARTITION = "dirichlet(1.0)"
TOLERANCE = 0.03
STRATEGY_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "FedAvg": {},
    "FedMedian": {},
    "FedTrimmedAvg": {"strategy.beta": 0.2},
    "Krum": {"strategy.num_malicious_nodes": 2},
    "MultiKrum": {"strategy.num_malicious_nodes": 2, "strategy.num_nodes_to_select": 6},
    "Bulyan": {"strategy.num_malicious_nodes": 1},
}


def poisoned_accuracy(
    strategy: str,
    attack: str | None,
    *,
    participants: int = PARTICIPANTS,
    attackers: Sequence[int] = ATTACKERS,
    rounds: int = ROUNDS,
    seed: int = 42,
) -> float:
    """Held-out accuracy after ``rounds`` rounds of ``strategy`` with ``attackers`` running
    ``attack`` (``None``: nobody attacks)."""
    inner = load_app(get_task(TASK).client_app)
    app = PoisonedClientApp(inner, attackers=attackers if attack else (), attack=attack or "scale")
    grid = simulate(
        TASK,
        num_partitions=participants,
        partitioner_spec=PARTITION,
        seed=seed,
        client_app=app,  # type: ignore[arg-type]  # called like a ClientApp
        run_config={
            "num-server-rounds": rounds,
            "strategy": strategy,
            "fraction-evaluate": 0.0,
            "membership-audit": False,
            **STRATEGY_OPTIONS[strategy],
        },
    )
    return float(grid.round_metrics[rounds]["accuracy"])


def run(out_dir: Path, *, strategies: Sequence[str] | None = None, rounds: int = ROUNDS) -> dict:
    """Every strategy clean and under each attack; the report."""
    del out_dir
    chosen = list(strategies or STRATEGY_OPTIONS)
    accuracy: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for strategy in chosen:
        t0 = time.monotonic()
        accuracy[strategy] = {
            attack or "none": poisoned_accuracy(strategy, attack, rounds=rounds)
            for attack in (None, *DEFAULT_FACTORS)
        }
        seconds[strategy] = time.monotonic() - t0
    clean = accuracy["FedAvg"]["none"] if "FedAvg" in accuracy else None
    holding = {
        strategy: {
            attack: clean is not None and value >= clean - TOLERANCE
            for attack, value in results.items()
            if attack != "none"
        }
        for strategy, results in accuracy.items()
    }
    robust = [s for s in chosen if s != "FedAvg"]
    return {
        "setup": {
            "task": TASK,
            "participants": PARTICIPANTS,
            "attackers": len(ATTACKERS),
            "partition": PARTITION,
            "rounds": rounds,
            "attack_factors": dict(DEFAULT_FACTORS),
            "strategy_options": {s: dict(STRATEGY_OPTIONS[s]) for s in chosen},
        },
        "accuracy": accuracy,
        "clean_fedavg": clean,
        "fedavg_drop": {
            attack: clean - value
            for attack, value in accuracy.get("FedAvg", {}).items()
            if clean is not None and attack != "none"
        },
        "holding": holding,
        "goal": {
            "tolerance": TOLERANCE,
            "met": {attack: any(holding[s][attack] for s in robust) for attack in DEFAULT_FACTORS},
        },
        "seconds_per_strategy": seconds,
    }


def table(report: Mapping[str, Any]) -> str:
    """Accuracy per strategy (rows) and attack (columns), ``*`` where it holds."""
    attacks = ["none", *DEFAULT_FACTORS]
    lines = [f"{'strategy':<14}" + "".join(f"{a:>12}" for a in attacks)]
    for strategy, results in report["accuracy"].items():
        cells = []
        for attack in attacks:
            mark = "*" if report["holding"][strategy].get(attack) else " "
            cells.append(f"{results[attack]:>11.3f}{mark}")
        lines.append(f"{strategy:<14}" + "".join(cells))
    lines.append(
        f"clean FedAvg {report['clean_fedavg']:.3f}; * = within "
        f"{report['goal']['tolerance'] * 100:.0f} points of it; goal met: {report['goal']['met']}"
    )
    return "\n".join(lines)
