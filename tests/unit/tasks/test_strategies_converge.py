"""Every registered strategy trains task digits-cnn on non-IID partitions (Dirichlet 0.5): five
rounds of one local epoch take the held-out accuracy from 10% to over 60% (64-90% measured).

The real built-in ServerApp and ClientApp run in one process (``simulate``); each strategy gets
the options a user would set for it (the adaptive optimizers need a server learning rate that
suits a CNN; Krum-style strategies are told how many attackers to expect).
"""

from __future__ import annotations

from typing import Any

import pytest
from consortium_core.strategies import STRATEGIES
from consortium_tasks.simulation import run_in_process

ROUNDS = 5
OPTIONS: dict[str, dict[str, Any]] = {
    "FedAvg": {},
    "FedProx": {"strategy.proximal_mu": 0.1},
    "FedAvgM": {"strategy.server_momentum": 0.5},
    "FedAdam": {"strategy.eta": 0.02, "strategy.tau": 1e-3},
    "FedYogi": {"strategy.eta": 0.02, "strategy.tau": 1e-3},
    "FedAdagrad": {"strategy.eta": 0.05},
    "FedMedian": {},
    "FedTrimmedAvg": {"strategy.beta": 0.2},
    "Krum": {"strategy.num_malicious_nodes": 1},
    "MultiKrum": {"strategy.num_malicious_nodes": 1, "strategy.num_nodes_to_select": 3},
    "Bulyan": {"strategy.num_malicious_nodes": 0},
    "QFedAvg": {"strategy.client_learning_rate": 1.0},
}


def test_every_registered_strategy_has_a_case() -> None:
    assert set(OPTIONS) == set(STRATEGIES)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_strategy_converges_on_non_iid_digits(name: str) -> None:
    metrics = run_in_process(
        "digits-cnn",
        num_partitions=5,
        partitioner_spec="dirichlet(0.5)",
        seed=42,
        run_config={
            "num-server-rounds": ROUNDS,
            "strategy": name,
            "fraction-evaluate": 0.0,
            "local-epochs": 1,
            "membership-audit": False,
            **OPTIONS[name],
        },
    )
    assert metrics[0]["accuracy"] < 0.2
    assert metrics[ROUNDS]["accuracy"] > 0.6, metrics
    assert metrics[ROUNDS]["loss"] < metrics[0]["loss"]
