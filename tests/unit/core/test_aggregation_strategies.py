"""Each fast strategy returns the ArrayRecord and metrics Flower's class returns."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.aggregation import strategies as fast
from consortium_core.strategies import STRATEGIES, build_strategy
from consortium_tasks.simulation import act_as_server
from flwr.app import Array, ArrayRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import strategy as flwr_strategy
from flwr.serverapp.strategy import Strategy

CASES: list[tuple[type[Strategy], type[Strategy], dict[str, object], bool]] = [
    (fast.FastFedAvg, flwr_strategy.FedAvg, {}, False),
    (fast.FastFedProx, flwr_strategy.FedProx, {"proximal_mu": 0.1}, False),
    (fast.FastFedAvgM, flwr_strategy.FedAvgM, {"server_momentum": 0.9}, False),
    (fast.FastFedAdam, flwr_strategy.FedAdam, {}, False),
    (fast.FastFedYogi, flwr_strategy.FedYogi, {}, False),
    (fast.FastFedAdagrad, flwr_strategy.FedAdagrad, {}, False),
    (fast.FastFedMedian, flwr_strategy.FedMedian, {}, True),
    (fast.FastFedTrimmedAvg, flwr_strategy.FedTrimmedAvg, {"beta": 0.2}, False),
    (fast.FastKrum, flwr_strategy.Krum, {"num_malicious_nodes": 1}, False),
    (
        fast.FastMultiKrum,
        flwr_strategy.MultiKrum,
        {"num_malicious_nodes": 1, "num_nodes_to_select": 3},
        False,
    ),
    (fast.FastBulyan, flwr_strategy.Bulyan, {"num_malicious_nodes": 1}, False),
]


def _replies(k: int, seed: int) -> list[Message]:
    act_as_server(run_id=1)
    rng = np.random.default_rng(seed)
    replies = []
    for node_id in range(1, k + 1):
        arrays = ArrayRecord(
            {
                "conv.weight": Array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                "bn.num_batches_tracked": Array(np.array(node_id * 7, dtype=np.int64)),
                "fc.bias": Array(rng.standard_normal(10).astype(np.float32)),
                "fc.weight64": Array(rng.standard_normal((2, 5))),
            }
        )
        content = RecordDict(
            {
                "arrays": arrays,
                "metrics": MetricRecord({"num-examples": 10 * node_id, "loss": 1.0 / node_id}),
            }
        )
        sent = Message(RecordDict(), dst_node_id=node_id, message_type=MessageType.TRAIN)
        sent.metadata.__dict__["_message_id"] = f"m{node_id}"
        sent.metadata.__dict__["_src_node_id"] = 0
        reply = Message(content, reply_to=sent)
        reply.metadata.__dict__["_src_node_id"] = node_id
        replies.append(reply)
    return replies


def _initialised(strategy: Strategy, replies: list[Message]) -> Strategy:
    if hasattr(strategy, "current_arrays"):
        first = next(iter(replies[0].content.array_records.values()))
        zeros = {k: np.zeros_like(v.numpy()) for k, v in first.items()}
        if isinstance(strategy, flwr_strategy.FedAvgM):
            strategy.current_arrays = ArrayRecord({k: Array(v) for k, v in zeros.items()})
        else:  # FedOpt keeps plain ndarrays
            strategy.current_arrays = zeros  # type: ignore[attr-defined]
    return strategy


@pytest.mark.parametrize("k", [7, 8])
@pytest.mark.parametrize(("fast_cls", "flower_cls", "options", "exact"), CASES)
def test_fast_strategy_returns_what_flower_returns(
    fast_cls: type[Strategy],
    flower_cls: type[Strategy],
    options: dict[str, object],
    exact: bool,
    k: int,
) -> None:
    ours = _initialised(fast_cls(**options), _replies(k, seed=k))
    theirs = _initialised(flower_cls(**options), _replies(k, seed=k))
    assert isinstance(ours, flower_cls)
    arrays, metrics = ours.aggregate_train(1, _replies(k, seed=k))
    expected_arrays, expected_metrics = theirs.aggregate_train(1, _replies(k, seed=k))
    assert arrays is not None and expected_arrays is not None
    assert list(arrays.keys()) == list(expected_arrays.keys())
    for key in arrays:
        got, want = arrays[key].numpy(), expected_arrays[key].numpy()
        assert got.dtype == want.dtype and got.shape == want.shape, key
        if exact:
            assert np.array_equal(got, want), key
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=key)
    assert dict(metrics or {}) == pytest.approx(dict(expected_metrics or {}))


def test_too_few_replies_for_bulyan_give_flowers_answer() -> None:
    strategy = fast.FastBulyan(num_malicious_nodes=1)
    assert strategy.aggregate_train(1, _replies(5, seed=0)) == (None, None)


def test_registry_names_build_the_fast_classes() -> None:
    assert type(build_strategy("FedMedian", min_participants=2)) is fast.FastFedMedian
    assert STRATEGIES["QFedAvg"] is flwr_strategy.QFedAvg
