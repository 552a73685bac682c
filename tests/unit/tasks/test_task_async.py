"""FedAsync and FedBuff through the real ServerApp/ClientApp on the in-process simulator, with
replies that come back out of order (stragglers on a real clock)."""

from __future__ import annotations

import doctest
from collections.abc import Iterable
from typing import cast

import consortium_tasks.asynchronous as asynchronous_module
import pytest
from consortium_core.asynchronous import AsyncSettings, AsyncSettingsError
from consortium_core.rounds import StopTraining
from consortium_tasks.asynchronous import AsyncTrainingError, run_async_rounds
from consortium_tasks.breast_cancer_logreg.task import build_model as build_logreg
from consortium_tasks.data import load_test_set
from consortium_tasks.digits_cnn.task import build_model as build_digits
from consortium_tasks.models import build_seeded
from consortium_tasks.registry import get_task, load_app
from consortium_tasks.server_settings import held_out_evaluate_fn, participant_config
from consortium_tasks.simulation import FIRST_NODE_ID, InProcessGrid, act_as_server, simulate
from flwr.app import ArrayRecord, Error, Message, MetricRecord
from flwr.clientapp import ClientApp

pytestmark = pytest.mark.slow

DIGITS = {"partitioner_spec": "dirichlet(0.5)", "seed": 42}


def _accuracies(grid: InProcessGrid) -> list[float]:
    return [grid.round_metrics[r]["accuracy"] for r in sorted(grid.round_metrics)]


def test_fedasync_converges_on_non_iid_digits() -> None:
    grid = simulate(
        "digits-cnn",
        num_partitions=5,
        **DIGITS,
        run_config={"strategy": "FedAsync", "num-server-rounds": 12, "async.alpha": 0.6},
    )
    accuracy = _accuracies(grid)
    assert len(accuracy) == 13 and accuracy[0] < 0.2
    assert max(accuracy[-3:]) > accuracy[0] + 0.35


def test_fedbuff_converges_on_non_iid_digits() -> None:
    grid = simulate(
        "digits-cnn",
        num_partitions=5,
        **DIGITS,
        run_config={"strategy": "FedBuff", "num-server-rounds": 8, "async.buffer-size": 2},
    )
    accuracy = _accuracies(grid)
    assert len(accuracy) == 9
    assert max(accuracy[-3:]) > accuracy[0] + 0.5


def _digits_grid(delays: dict[int, float]) -> tuple[InProcessGrid, ArrayRecord, object]:
    spec = get_task("digits-cnn")
    client_app = cast(ClientApp, load_app(spec.client_app))
    node_configs = [
        {"partition-id": i, "num-partitions": 5, "partition": "dirichlet(0.5)", "seed": 42}
        for i in range(5)
    ]
    grid = InProcessGrid(
        client_app,
        node_configs,
        {"local-epochs": 1},
        reply_delays={FIRST_NODE_ID + p: d for p, d in delays.items()},
    )
    act_as_server(run_id=grid.run.run_id)
    initial = ArrayRecord(build_seeded(build_digits, 42).state_dict())
    held_out = held_out_evaluate_fn(
        grid=grid, build_model=build_digits, test_set=load_test_set("digits-cnn")
    )
    return grid, initial, held_out


@pytest.mark.parametrize("max_staleness", [None, 1])
def test_fedbuff_keeps_going_with_a_straggler(max_staleness: int | None) -> None:
    straggler = FIRST_NODE_ID + 4
    # 0.3 s: the 12 rounds take about 1 s here; at 1.5 s the others once finished all of them
    # before the straggler replied at all
    grid, initial, held_out = _digits_grid({4: 0.3})
    config = {"strategy": "FedBuff", "async.buffer-size": 2}
    if max_staleness is not None:
        config["async.max-staleness"] = max_staleness
    settings = AsyncSettings.from_run_config(config)
    assert settings is not None
    summary = run_async_rounds(
        grid,
        settings=settings,
        initial_arrays=initial,
        num_rounds=12,
        train_config=participant_config(get_task("digits-cnn").defaults, {"local-epochs": 1}),
        evaluate_fn=held_out,  # type: ignore[arg-type]
    )
    assert summary.rounds == 12 and summary.failures == 0
    accuracy = _accuracies(grid)
    assert max(accuracy[-3:]) > accuracy[0] + 0.4
    late = [u for u in summary.updates + summary.dropped if u.node_id == straggler]
    fast = [u for u in summary.updates if u.node_id != straggler]
    assert late and min(u.staleness for u in late) >= 1  # the others moved on meanwhile
    assert len(fast) > 3 * len(late)  # and did not wait for it
    if max_staleness is None:
        assert all(u.weight == (1 + u.staleness) ** -0.5 for u in late)  # down-weighted
        assert sum(u.weight for u in late) / len(late) < sum(u.weight for u in fast) / len(fast)
    else:
        assert summary.dropped and {u.node_id for u in summary.dropped} == {straggler}
        assert all(u.staleness > 1 for u in summary.dropped)
        assert all(u.staleness <= 1 for u in summary.updates)


class _FlakyGrid(InProcessGrid):
    """Node 100 answers with an error, node 101 never answers; the others train."""

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            node = message.metadata.dst_node_id
            if node == FIRST_NODE_ID + 1:
                ids.append(f"silent-{len(ids)}-{id(message)}")
                continue
            (message_id,) = super().push_messages([message])
            if node == FIRST_NODE_ID:
                reply = Message(Error(code=0, reason="boom"), reply_to=message)
                self._replies[message_id] = reply
            ids.append(message_id)
        return ids


def test_failures_and_timeouts_go_to_other_nodes_and_stop_training_ends_cleanly() -> None:
    spec = get_task("breast-cancer-logreg")
    client_app = cast(ClientApp, load_app(spec.client_app))
    node_configs = [{"partition-id": i, "num-partitions": 4} for i in range(4)]
    grid = _FlakyGrid(client_app, node_configs, {})
    act_as_server(run_id=grid.run.run_id)
    initial = ArrayRecord(build_seeded(build_logreg, 42).state_dict())
    settings = AsyncSettings.from_run_config(
        {"strategy": "FedAsync", "async.concurrency": 2, "async.timeout-s": 0.5}
    )
    assert settings is not None
    seen: list[int] = []

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        seen.append(server_round)
        if server_round == 6:
            raise StopTraining("enough")
        return MetricRecord({})

    with pytest.raises(StopTraining, match="enough"):
        run_async_rounds(
            grid,
            settings=settings,
            initial_arrays=initial,
            num_rounds=50,
            train_config={"local-epochs": 1, "learning-rate": 0.1, "batch-size": 32},
            evaluate_fn=evaluate_fn,
        )
    assert seen == [0, 1, 2, 3, 4, 5, 6]


def test_no_usable_participant_fails_the_job_with_a_reason() -> None:
    spec = get_task("breast-cancer-logreg")
    client_app = cast(ClientApp, load_app(spec.client_app))
    grid = _FlakyGrid(client_app, [{"partition-id": 0, "num-partitions": 2}] * 2, {})
    act_as_server(run_id=grid.run.run_id)
    settings = AsyncSettings.from_run_config({"strategy": "FedBuff", "async.timeout-s": 0.3})
    assert settings is not None
    with pytest.raises(AsyncTrainingError, match=r"the job gives up|could train"):
        run_async_rounds(
            grid,
            settings=settings,
            initial_arrays=ArrayRecord(build_seeded(build_logreg, 0).state_dict()),
            num_rounds=3,
            train_config={},
            evaluate_fn=lambda r, a: None,
        )


def test_async_with_secure_aggregation_is_refused() -> None:
    with pytest.raises(AsyncSettingsError, match="cannot run with secure-aggregation"):
        simulate(
            "breast-cancer-logreg",
            num_partitions=3,
            run_config={"strategy": "FedBuff", "secure-aggregation": True},
        )


def test_doctests_pass() -> None:
    result = doctest.testmod(asynchronous_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
