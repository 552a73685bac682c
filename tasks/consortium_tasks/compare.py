"""Federated vs local-only vs centralized accuracy of a built-in task, on one machine.

Runs the task's real ServerApp and ClientApp in process (:mod:`consortium_tasks.simulation`)
and the baselines (:mod:`consortium_tasks.baselines`) with epochs = rounds x local epochs, then
prints one JSON object::

    python -m consortium_tasks.compare --task digits-cnn --participants 5 --rounds 10
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from flwr.common.logger import FLOWER_LOGGER

from .baselines import train_centralized, train_local_only
from .registry import get_task
from .simulation import run_in_process

__all__ = ["compare", "main"]


def compare(
    task_name: str, *, participants: int, partition: str, rounds: int, seed: int, strategy: str
) -> dict[str, Any]:
    """Held-out accuracies of federated training and of both baselines, with timings."""
    epochs = rounds * get_task(task_name).defaults.local_epochs
    started = time.perf_counter()
    per_round = run_in_process(
        task_name,
        num_partitions=participants,
        partitioner_spec=partition,
        seed=seed,
        run_config={"num-server-rounds": rounds, "strategy": strategy, "seed": seed},
    )
    federated_s = time.perf_counter() - started
    local = train_local_only(
        task_name,
        num_partitions=participants,
        partitioner_spec=partition,
        seed=seed,
        epochs=epochs,
    )
    return {
        "task": task_name,
        "participants": participants,
        "partition": partition,
        "rounds": rounds,
        "strategy": strategy,
        "seed": seed,
        "baseline_epochs": epochs,
        "federated": per_round[rounds]["accuracy"],
        "federated_per_round": [per_round[r]["accuracy"] for r in sorted(per_round)],
        "local_only_mean": statistics.fmean(local.values()),
        "local_only_per_participant": local,
        "centralized": train_centralized(task_name, epochs=epochs, seed=seed),
        "federated_s": round(federated_s, 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of :func:`compare`; runs torch on one thread, Flower's log quiet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-cnn")
    parser.add_argument("--participants", type=int, default=5)
    parser.add_argument("--partition", default="dirichlet(0.5)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strategy", default="FedAvg")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    FLOWER_LOGGER.setLevel(logging.WARNING)
    result = compare(
        args.task,
        participants=args.participants,
        partition=args.partition,
        rounds=args.rounds,
        seed=args.seed,
        strategy=args.strategy,
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
