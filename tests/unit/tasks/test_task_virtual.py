"""The virtual Grid: many clients of one ClientApp, Flower's sampling, error replies, repeats;
and the Synthetic(alpha, beta) devices of task ``devices-logreg``."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_tasks.data import load_partition, load_test_set
from consortium_tasks.devices_logreg.task import build_model
from consortium_tasks.simulation import act_as_server
from consortium_tasks.synthetic_devices import NUM_CLASSES, device_data
from consortium_tasks.virtual import VirtualClients, VirtualGrid, simulate_virtual
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

TASK = "devices-logreg"
FAILING_NODES = 3  # partition ids below this raise

failing_app = ClientApp()


@failing_app.train()
def _train_or_fail(msg: Message, context: Context) -> Message:
    """Defer to the task's ClientApp, except on the first few virtual clients."""
    if int(context.node_config["partition-id"]) < FAILING_NODES:
        raise RuntimeError("this device is broken")
    from consortium_tasks.devices_logreg.client_app import app

    return app(msg, context)


stateful_app = ClientApp()


@stateful_app.train()
def _count_rounds(msg: Message, context: Context) -> Message:
    """Count this client's rounds in its Context state; reply with the count."""
    seen = context.state.get("seen", MetricRecord({"rounds": 0}))
    seen["rounds"] = int(seen["rounds"]) + 1
    context.state["seen"] = seen
    content = RecordDict(
        {
            "arrays": ArrayRecord(msg.content["arrays"].to_torch_state_dict()),
            "metrics": MetricRecord({"num-examples": 1, "rounds": seen["rounds"]}),
        }
    )
    return Message(content, reply_to=msg)


def sampled_run(rounds: int = 4, **options: object) -> dict[int, dict[str, float]]:
    return simulate_virtual(
        TASK,
        num_clients=200,
        workers=0,
        run_config={
            "num-server-rounds": rounds,
            "fraction-train": 0.1,
            "fraction-evaluate": 0.0,
        },
        **options,  # type: ignore[arg-type]
    ).round_metrics


def test_sampled_rounds_over_200_clients_improve_accuracy() -> None:
    metrics = sampled_run()
    assert sorted(metrics) == [0, 1, 2, 3, 4]
    assert metrics[4]["accuracy"] > metrics[0]["accuracy"] + 0.08
    assert metrics[4]["loss"] < metrics[0]["loss"]


def test_worker_processes_give_the_same_run_as_in_process() -> None:
    config = {"num-server-rounds": 2, "fraction-train": 0.1, "fraction-evaluate": 0.0}
    in_process = simulate_virtual(TASK, num_clients=100, workers=0, run_config=config)
    pooled = simulate_virtual(TASK, num_clients=100, workers=2, run_config=config)
    assert pooled.round_metrics == in_process.round_metrics
    assert pooled.calls == in_process.calls == 20


def test_runs_repeat_exactly_for_a_seed_and_differ_across_seeds() -> None:
    first, again = sampled_run(rounds=2, seed=3), sampled_run(rounds=2, seed=3)
    assert first == again
    assert sampled_run(rounds=2, seed=4) != first


def test_raising_clients_become_error_replies_and_the_run_goes_on() -> None:
    result = simulate_virtual(
        TASK,
        num_clients=10,
        workers=0,
        client_app=failing_app,
        run_config={"num-server-rounds": 2, "fraction-train": 1.0, "fraction-evaluate": 0.0},
    )
    assert result.failures == {"train": 2 * FAILING_NODES}
    assert sorted(result.round_metrics) == [0, 1, 2]
    assert result.round_metrics[2]["accuracy"] != result.round_metrics[0]["accuracy"]


def test_a_clients_context_state_survives_between_its_rounds() -> None:
    clients = VirtualClients(client_app=stateful_app, num_clients=4, run_config={})
    grid = VirtualGrid(clients, workers=0)

    act_as_server(run_id=grid.run.run_id)
    arrays = ArrayRecord(build_model().state_dict())
    node = list(grid.get_node_ids())[1]
    for expected in (1, 2, 3):
        (reply,) = grid.send_and_receive([Message(RecordDict({"arrays": arrays}), node, "train")])
        assert reply.content["metrics"]["rounds"] == expected
    assert grid.kept_states == 1


def test_devices_are_deterministic_and_cost_nothing_until_used() -> None:
    x, y = device_data(seed=42, device=9_999)
    again_x, again_y = device_data(seed=42, device=9_999)
    assert np.array_equal(x, again_x) and np.array_equal(y, again_y)
    other_x, _ = device_data(seed=43, device=9_999)
    assert other_x.shape != x.shape or not np.array_equal(other_x, x)
    part_x, part_y = load_partition(
        TASK, partition_id=9_999, num_partitions=10_000, partitioner_spec="iid", seed=42
    )
    assert np.array_equal(part_x.numpy(), x) and np.array_equal(part_y.numpy(), y)


def test_devices_are_non_iid() -> None:
    histograms = np.array(
        [np.bincount(device_data(seed=42, device=d)[1], minlength=NUM_CLASSES) for d in range(50)]
    )
    shares = histograms / histograms.sum(axis=1, keepdims=True)
    top_label = shares.argmax(axis=1)
    assert len(set(top_label.tolist())) >= 5  # devices favour different labels
    assert float(shares.max(axis=1).mean()) > 0.5  # and each one is skewed
    pooled = histograms.sum(axis=0) / histograms.sum()
    assert float(np.abs(shares - pooled).sum(axis=1).mean()) > 0.5  # far from the pool


def test_held_out_set_is_separate_devices() -> None:
    test_x, test_y = load_test_set(TASK)
    assert test_x.shape[1] == 60 and len(test_y) > 1_000
    train_x, _ = device_data(seed=42, device=0)
    assert not any(np.array_equal(train_x[0], row) for row in test_x.numpy()[:5_000])


def test_unknown_node_is_refused() -> None:
    grid = VirtualGrid(VirtualClients(client_app=stateful_app, num_clients=2, run_config={}))
    act_as_server(run_id=grid.run.run_id)
    with pytest.raises(ValueError, match="no virtual client"):
        grid.push_messages([Message(RecordDict(), 5, "train")])


def test_generator_doctests_pass() -> None:
    import doctest

    from consortium_tasks import synthetic_devices

    assert doctest.testmod(synthetic_devices, optionflags=doctest.ELLIPSIS).failed == 0
