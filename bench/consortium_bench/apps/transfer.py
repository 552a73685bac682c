"""Model-transfer benchmark Flower app: a ResNet-18-sized model goes to one node and comes back.

The ServerApp builds one ``ArrayRecord`` of float32 numpy arrays with the parameter shapes of
torchvision's ResNet-18 (62 arrays, 11,689,512 parameters, 46,758,048 bytes of array data) and
sends it to one node ``num-server-rounds`` times with ``grid.send_and_receive``, one message at a
time. The ClientApp echoes the received ``ArrayRecord`` back in its train reply. Each call is
therefore one full round trip of the model through the runtime, Flower message serialization
included (and, on Consortium's runtime, the coordinator's checks on a returned update).

Written in Flower's message API, so it runs unchanged on Flower's SuperLink/SuperNode runtime
and on Consortium's.

Run config (``context.run_config``):

``num-server-rounds`` (int, default 5)
    round trips to time.
``timing-file`` (str, default ``""``)
    if set, one JSON line ``{"round": k, "time": <unix seconds>}`` is appended right before the
    first call (``k = 0``) and right after the ``k``-th call returns, in the format of
    :mod:`consortium_bench.timing`; the ``k``-th round trip lasted ``time[k] - time[k - 1]``.
``model-scale`` (float, default 1.0)
    multiplies the number of output channels of every layer's shape (tests use a small model).
``seed`` (int, default 0)
    seeds the array values.
``timeout-s`` (float, default 120)
    ``send_and_receive`` timeout of one call.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from consortium_bench.timing import append_round_time

__all__ = [
    "RESNET18_NUM_PARAMS",
    "build_model_record",
    "client_app",
    "record_nbytes",
    "resnet18_shapes",
    "server_app",
]

#: Parameters of torchvision's ``resnet18()`` (1000 classes), trainable tensors only.
RESNET18_NUM_PARAMS = 11_689_512


def _conv_bn(
    conv: str, bn: str, out_ch: int, in_ch: int, k: int
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield f"{conv}.weight", (out_ch, in_ch, k, k)
    yield f"{bn}.weight", (out_ch,)
    yield f"{bn}.bias", (out_ch,)


def resnet18_shapes(scale: float = 1.0) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of ResNet-18's trainable parameters, in ``state_dict`` order.

    ``scale`` multiplies every channel count (the input's 3 channels and the 1000 classes stay).
    """

    def ch(c: int) -> int:
        return max(1, round(c * scale))

    shapes = list(_conv_bn("conv1", "bn1", ch(64), 3, 7))
    in_ch = ch(64)
    for layer, width in enumerate((64, 128, 256, 512), start=1):
        out_ch = ch(width)
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            first_in = in_ch if block == 0 else out_ch
            shapes += _conv_bn(f"{prefix}.conv1", f"{prefix}.bn1", out_ch, first_in, 3)
            shapes += _conv_bn(f"{prefix}.conv2", f"{prefix}.bn2", out_ch, out_ch, 3)
            if block == 0 and layer > 1:
                down = f"{prefix}.downsample"
                shapes += _conv_bn(f"{down}.0", f"{down}.1", out_ch, first_in, 1)
        in_ch = out_ch
    shapes += [("fc.weight", (1000, in_ch)), ("fc.bias", (1000,))]
    return shapes


def build_model_record(scale: float = 1.0, seed: int = 0) -> ArrayRecord:
    """An ArrayRecord of float32 arrays with ResNet-18's shapes (random normal values)."""
    rng = np.random.default_rng(seed)
    record = ArrayRecord()
    for name, shape in resnet18_shapes(scale):
        record[name] = Array(rng.standard_normal(shape, dtype=np.float32))
    return record


def record_nbytes(record: ArrayRecord) -> int:
    """Bytes of array data in ``record`` (element size x elements; serialization headers out)."""
    return sum(
        int(np.prod(a.shape, dtype=np.int64)) * np.dtype(a.dtype).itemsize for a in record.values()
    )


# --------------------------------------------------------------------------------------------
# ClientApp
# --------------------------------------------------------------------------------------------

client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """Echo the received ArrayRecord back."""
    content = RecordDict(
        {"arrays": msg.content["arrays"], "metrics": MetricRecord({"num-examples": 1})}
    )
    return Message(content=content, reply_to=msg)


# --------------------------------------------------------------------------------------------
# ServerApp
# --------------------------------------------------------------------------------------------

server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Send the model to one node ``num-server-rounds`` times; time each round trip."""
    cfg = context.run_config
    repeats = int(cfg.get("num-server-rounds", 5))
    timing_file = str(cfg.get("timing-file", "") or "")
    scale = float(cfg.get("model-scale", 1.0))
    seed = int(cfg.get("seed", 0))
    timeout = float(cfg.get("timeout-s", 120.0))

    big = build_model_record(scale, seed)
    expected = [(k, tuple(a.shape), len(a.data)) for k, a in big.items()]
    node_ids = sorted(grid.get_node_ids())
    if not node_ids:
        raise RuntimeError("no node is connected")
    node = node_ids[0]

    if timing_file:
        append_round_time(timing_file, 0)
    for k in range(1, repeats + 1):
        message = Message(
            content=RecordDict({"arrays": big}), dst_node_id=node, message_type="train"
        )
        replies = list(grid.send_and_receive([message], timeout=timeout))
        if timing_file:
            append_round_time(timing_file, k)
        if len(replies) != 1:
            raise RuntimeError(f"round trip {k}: expected 1 reply, got {len(replies)}")
        reply = replies[0]
        if reply.has_error():
            raise RuntimeError(f"round trip {k}: node {node} replied with {reply.error.reason}")
        echoed = reply.content["arrays"]
        got = [(key, tuple(a.shape), len(a.data)) for key, a in echoed.items()]
        if got != expected:
            raise RuntimeError(f"round trip {k}: the echoed ArrayRecord differs from the sent one")
