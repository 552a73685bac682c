"""A small app pair for testing SecAgg+ over the NATS runtime, with known updates.

Each participant's update is known in advance from its ``partition-id`` (:func:`update_of`), so a
test can compute the exact weighted average of the participants that survived and compare it
with what secure aggregation produced. Node config ``mode``: ``ok``; ``stall`` writes
``<marker-dir>/<partition-id>`` when training starts, then hangs (for a test to kill it
mid-round); ``plaintext`` runs the protocol but answers the masked-vector stage with its update
in the clear, as a broken or hostile client would.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from consortium_core.rounds import notify_round_end
from consortium_core.secure_aggregation import SecureAggregationSettings
from consortium_core.secure_aggregation.client import secure_train
from consortium_core.secure_aggregation.server import run_secure_rounds
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

SHAPES = OrderedDict([("w", (40, 25)), ("b", (25,))])


def update_of(partition_id: int) -> tuple[list[np.ndarray], int]:
    """Participant ``partition_id``'s update and example count."""
    rng = np.random.default_rng(partition_id)
    arrays = [rng.uniform(-2, 2, size=shape).astype(np.float32) for shape in SHAPES.values()]
    return arrays, 20 + 7 * partition_id


client = ClientApp()


@client.train()
def train(msg: Message, context: Context) -> Message:
    mode = context.node_config.get("mode", "ok")
    partition = int(context.node_config["partition-id"])

    def fit(arrays, config, ctx):
        if mode == "stall":
            Path(str(ctx.node_config["marker-dir"]), str(partition)).touch()
            time.sleep(600)
        update, count = update_of(partition)
        return update, count, {"partition": partition}

    reply = secure_train(msg, context, fit)
    if mode == "plaintext" and reply.has_content() and "fitres.parameters" in reply.content:
        update, _ = update_of(partition)
        reply.content["fitres.parameters"] = ArrayRecord(
            OrderedDict((str(i), Array(a)) for i, a in enumerate(update))
        )
    return reply


server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    initial = ArrayRecord(
        OrderedDict((k, Array(np.zeros(s, dtype=np.float32))) for k, s in SHAPES.items())
    )

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        notify_round_end(grid, server_round, arrays, {})
        return MetricRecord({})

    settings = SecureAggregationSettings.from_run_config(context.run_config)
    assert settings is not None, "this app runs with secure-aggregation on"
    run_secure_rounds(
        grid,
        context,
        settings=settings,
        initial_arrays=initial,
        num_rounds=int(context.run_config["num-server-rounds"]),
        min_participants=int(context.run_config["min-participants"]),
        fraction_train=1.0,
        train_config={},
        evaluate_fn=evaluate_fn,
    )


app = client  # for `consortium-client run --app`
_ = RecordDict  # re-exported types used by tests
