"""Compression in a federated run: accuracy close to uncompressed, far fewer bytes; the
server wrapper leaves out an undecodable update instead of failing the round."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.compression import CompressionSettings
from consortium_tasks.compression_records import UP_KEY
from consortium_tasks.compression_strategy import CompressionStrategy
from consortium_tasks.simulation import InProcessGrid, act_as_server, simulate
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp.strategy import FedAvg

ROUNDS = 5
ACCURACY_TOLERANCE = 0.08  # absolute, on the held-out set, after 5 rounds
CODECS = {
    "none": {},
    "q8": {"compression.up": "q8", "compression.down": "q8"},
    "topk": {
        "compression.up": "topk",
        "compression.topk-fraction": 0.05,
        "compression.down": "q8",
    },
}


def _run(codec: str) -> InProcessGrid:
    return simulate(
        "digits-cnn",
        num_partitions=5,
        partitioner_spec="dirichlet(0.5)",
        seed=42,
        run_config={"num-server-rounds": ROUNDS, **CODECS[codec]},
    )


def _train_bytes(grid: InProcessGrid) -> tuple[float, float]:
    train = [m for m in grid.message_bytes if m.message_type == MessageType.TRAIN]
    return sum(m.up for m in train) / ROUNDS, sum(m.down for m in train) / ROUNDS


@pytest.fixture(scope="module")
def runs() -> dict[str, InProcessGrid]:
    return {codec: _run(codec) for codec in CODECS}


def test_accuracy_stays_within_tolerance_of_uncompressed(runs: dict[str, InProcessGrid]) -> None:
    baseline = runs["none"].round_metrics[ROUNDS]["accuracy"]
    assert baseline > 0.7
    for codec in ("q8", "topk"):
        accuracy = runs[codec].round_metrics[ROUNDS]["accuracy"]
        assert accuracy >= baseline - ACCURACY_TOLERANCE, (codec, accuracy, baseline)


def test_bytes_drop_about_4x_with_q8_and_more_with_topk(runs: dict[str, InProcessGrid]) -> None:
    up_none, down_none = _train_bytes(runs["none"])
    up_q8, down_q8 = _train_bytes(runs["q8"])
    up_topk, _ = _train_bytes(runs["topk"])
    assert up_none / up_q8 > 3.3 and down_none / down_q8 > 3.3  # metrics and config stay
    assert up_none / up_topk > 7
    eval_none = [m.down for m in runs["none"].message_bytes if m.message_type == "evaluate"]
    eval_q8 = [m.down for m in runs["q8"].message_bytes if m.message_type == "evaluate"]
    assert sum(eval_none) / sum(eval_q8) > 3.3


def test_participants_keep_their_residual_in_context_state(
    runs: dict[str, InProcessGrid],
) -> None:
    contexts = runs["topk"]._contexts.values()
    assert all("compression.residual" in c.state.array_records for c in contexts)


def _reply(node_id: int, content: RecordDict) -> Message:
    act_as_server(run_id=1)
    sent = Message(RecordDict(), dst_node_id=node_id, message_type=MessageType.TRAIN)
    sent.metadata.__dict__["_message_id"] = f"m{node_id}"
    sent.metadata.__dict__["_src_node_id"] = 0
    reply = Message(content, reply_to=sent)
    reply.metadata.__dict__["_src_node_id"] = node_id
    return reply


def test_undecodable_update_is_left_out_with_the_reason() -> None:
    settings = CompressionSettings.from_run_config({"compression.up": "topk"})
    assert settings is not None
    strategy = CompressionStrategy(FedAvg(), settings=settings)
    model = ArrayRecord({"w": Array(np.ones((4, 4), np.float32))})
    strategy._sent = {1: model, 2: model}
    metrics = MetricRecord({"num-examples": 10})
    good = RecordDict(
        {
            UP_KEY: ArrayRecord(
                {
                    "w/indices": Array(np.array([0, 5], np.int32)),
                    "w/values": Array(np.array([1.0, -1.0], np.float32)),
                }
            ),
            UP_KEY + ".meta": ConfigRecord(
                {
                    "codec": "topk",
                    "fraction": 0.125,
                    "names": ["w"],
                    "codecs": ["topk"],
                    "dtypes": ["<f4"],
                    "ndims": [2],
                    "dims": [4, 4],
                }
            ),
            "metrics": metrics,
        }
    )
    bad = RecordDict(
        {
            UP_KEY: ArrayRecord({"w/indices": Array(np.array([99], np.int64))}),
            UP_KEY + ".meta": ConfigRecord(dict(good[UP_KEY + ".meta"])),
            "metrics": metrics,
        }
    )
    arrays, _ = strategy.aggregate_train(1, [_reply(1, good), _reply(2, bad)])
    assert arrays is not None
    w = arrays["w"].numpy().ravel()
    assert w[0] == 2.0 and w[5] == 0.0 and w[1] == 1.0  # only node 1's delta, rebuilt
    assert "part 'values' is missing" in strategy.refused[2]
