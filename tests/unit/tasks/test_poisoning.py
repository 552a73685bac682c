"""Two of ten participants poison their updates: FedAvg falls, robust aggregation holds.

The real built-in ServerApp and ClientApp of task digits-cnn run in the in-process simulator on
Dirichlet(1.0) partitions; partitions 0 and 1 sign-flip (``received - 4 delta``) or scale
(``received + 10 delta``) every update. ``make bench BENCH=robust`` runs every strategy.
"""

from __future__ import annotations

import pytest
from consortium_bench.robust import TOLERANCE, poisoned_accuracy
from consortium_core.errors import UnknownNameError
from consortium_tasks.attacks import PoisonedClientApp
from consortium_tasks.registry import get_task, load_app


@pytest.fixture(scope="module")
def clean_fedavg() -> float:
    return poisoned_accuracy("FedAvg", None)


def test_sign_flipping_breaks_fedavg_and_multi_krum_holds(clean_fedavg: float) -> None:
    assert clean_fedavg > 0.85
    assert poisoned_accuracy("FedAvg", "sign-flip") < clean_fedavg - 0.3
    assert poisoned_accuracy("MultiKrum", "sign-flip") >= clean_fedavg - TOLERANCE


def test_scaled_updates_hurt_fedavg_and_trimmed_mean_holds(clean_fedavg: float) -> None:
    assert poisoned_accuracy("FedAvg", "scale") < clean_fedavg - 0.05
    assert poisoned_accuracy("FedTrimmedAvg", "scale") >= clean_fedavg - TOLERANCE


def test_an_unknown_attack_is_refused() -> None:
    inner = load_app(get_task("digits-cnn").client_app)
    with pytest.raises(UnknownNameError, match="unknown attack 'melt'"):
        PoisonedClientApp(inner, attackers=[0], attack="melt")
