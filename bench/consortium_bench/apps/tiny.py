"""Tiny benchmark Flower app: a 2-layer MLP on 64 synthetic features, one SGD step per round.

Written in Flower's message API so that it runs unchanged on Flower's own SuperLink/SuperNode
runtime and on Consortium's runtime; both import ``consortium_bench.apps.tiny:server_app`` and
``consortium_bench.apps.tiny:client_app``. The work per message is deliberately negligible, so a
round's wall time is almost entirely the runtime's own overhead.

Run config (``context.run_config``):

``num-server-rounds`` (int, default 3)
    rounds to run.
``num-nodes`` (int, default 2)
    ``min_train_nodes = min_evaluate_nodes = min_available_nodes`` of the ``FedAvg`` strategy.
``timing-file`` (str, default ``""``)
    if set, one JSON line ``{"round": r, "time": <unix seconds>}`` is appended per round
    (round 0 before the first round); see :mod:`consortium_bench.timing`.
``seed`` (int, default 0)
    seeds the initial model and every node's synthetic batch.
``lr`` (float, default 0.1)
    the clients' SGD learning rate.
``batch-size`` (int, default 32)
    the number of synthetic examples each node trains and evaluates on.

Node config (``context.node_config``): ``partition-id`` (int, default 0) selects the node's
synthetic batch.
"""

from __future__ import annotations

import torch
from consortium_core.rounds import notify_round_end
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from torch import nn

from consortium_bench.timing import append_round_time

__all__ = [
    "NUM_CLASSES",
    "NUM_FEATURES",
    "build_model",
    "client_app",
    "make_batch",
    "server_app",
]

NUM_FEATURES = 64
HIDDEN = 32
NUM_CLASSES = 10
DEFAULT_BATCH_SIZE = 32


def build_model(seed: int | None = 0) -> nn.Module:
    """The benchmark model: ``Linear(64, 32) -> ReLU -> Linear(32, 10)``, seeded unless None."""
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(NUM_FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, NUM_CLASSES))


def make_batch(
    seed: int, partition_id: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic synthetic batch ``(x [batch_size, 64], y [batch_size])`` for a node."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + partition_id)
    x = torch.randn(batch_size, NUM_FEATURES, generator=gen)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), generator=gen)
    return x, y


def _node_batch(context: Context) -> tuple[torch.Tensor, torch.Tensor]:
    seed = int(context.run_config.get("seed", 0))
    partition_id = int(context.node_config.get("partition-id", 0))
    batch_size = int(context.run_config.get("batch-size", DEFAULT_BATCH_SIZE))
    return make_batch(seed, partition_id, batch_size)


def _load_model(msg: Message) -> nn.Module:
    model = build_model(seed=None)
    model.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    return model


# --------------------------------------------------------------------------------------------
# ClientApp
# --------------------------------------------------------------------------------------------

client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """One SGD step on the node's synthetic batch; reply with the new weights and the loss."""
    torch.set_num_threads(1)
    model = _load_model(msg)
    x, y = _node_batch(context)
    config = msg.content.config_records.get("config", ConfigRecord())
    lr = float(config.get("lr", context.run_config.get("lr", 0.1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    content = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord({"train_loss": float(loss.item()), "num-examples": len(y)}),
        }
    )
    return Message(content=content, reply_to=msg)


@client_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Loss and accuracy of the received model on the node's synthetic batch."""
    torch.set_num_threads(1)
    model = _load_model(msg)
    x, y = _node_batch(context)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
    metrics = MetricRecord(
        {
            "eval_loss": float(loss.item()),
            "eval_acc": float(accuracy.item()),
            "num-examples": len(y),
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


# --------------------------------------------------------------------------------------------
# ServerApp
# --------------------------------------------------------------------------------------------

server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Run ``num-server-rounds`` rounds of FedAvg over exactly ``num-nodes`` nodes."""
    torch.set_num_threads(1)
    cfg = context.run_config
    num_rounds = int(cfg.get("num-server-rounds", 3))
    num_nodes = int(cfg.get("num-nodes", 2))
    timing_file = str(cfg.get("timing-file", "") or "")
    seed = int(cfg.get("seed", 0))
    lr = float(cfg.get("lr", 0.1))

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        # Called with round 0 before the first round and after each round's evaluate phase.
        if timing_file:
            append_round_time(timing_file, server_round)
        if server_round >= 1:
            notify_round_end(grid, server_round, arrays, {})
        return None

    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=num_nodes,
        min_evaluate_nodes=num_nodes,
        min_available_nodes=num_nodes,
    )
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(build_model(seed).state_dict()),
        num_rounds=num_rounds,
        train_config=ConfigRecord({"lr": lr}),
        evaluate_fn=evaluate_fn,
    )
