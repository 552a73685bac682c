"""The participants' side of update compression: a Flower client mod.

``compression_mod(msg, context, call_next)`` wraps the ClientApp's ``train`` and ``evaluate``
handlers when the job sets ``compression.*`` (:class:`CompressionSettings`):

- a message with a compressed global model (``compressed.down``) is decoded into the plain
  ``arrays`` record before the handler sees it;
- a training reply's ``arrays`` are replaced by the compressed DELTA, trained minus received,
  plus the error-feedback residual, which stays in ``context.state`` (one Context per node
  per run, in the client runtime as in Flower's) and absorbs what compression dropped.

Secure-aggregation stage messages pass untouched (the two are refused together at job
creation). The mod sits outside client-side clipping, which sees plain messages.
"""

from __future__ import annotations

import zlib

import numpy as np
from consortium_core.compression import CompressionSettings, encode_tensors, encode_with_feedback
from consortium_core.secure_aggregation.client import is_secure_aggregation_message
from flwr.app import Context, Message, MessageType
from flwr.clientapp.typing import ClientAppCallable

from .compression_records import (
    DOWN_KEY,
    UP_KEY,
    decode_from,
    has_payload,
    numpy_tensors,
    put_encoded,
    tensor_record,
)

__all__ = ["RESIDUAL_KEY", "compression_mod"]

RESIDUAL_KEY = "compression.residual"


def compression_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Decode a compressed global model; compress a training reply's update."""
    settings = CompressionSettings.from_run_config(context.run_config)
    if settings is None or is_secure_aggregation_message(msg) or not msg.has_content():
        return call_next(msg, context)
    if has_payload(msg.content, DOWN_KEY):
        msg.content["arrays"] = tensor_record(decode_from(msg.content, DOWN_KEY))
    reply = call_next(msg, context)
    if (
        settings.up == "none"
        or msg.metadata.message_type != MessageType.TRAIN
        or reply.has_error()
        or "arrays" not in reply.content.array_records
    ):
        return reply
    received = numpy_tensors(msg.content["arrays"])
    trained = numpy_tensors(reply.content.array_records["arrays"])
    delta = {name: trained[name] - received[name] for name in trained}
    rng = np.random.default_rng(_seed(context, msg))
    compressor = settings.uplink()
    if settings.error_feedback:
        stored = context.state.array_records.get(RESIDUAL_KEY)
        residual = numpy_tensors(stored) if stored is not None else None
        encoded, new_residual = encode_with_feedback(
            tensors=delta, residual=residual, compressor=compressor, rng=rng
        )
        context.state[RESIDUAL_KEY] = tensor_record(new_residual)
    else:
        encoded = encode_tensors(tensors=delta, compressor=compressor, rng=rng)
    del reply.content["arrays"]
    put_encoded(reply.content, UP_KEY, encoded)
    return reply


def _seed(context: Context, msg: Message) -> int:
    """A seed for stochastic rounding, the same for the same run, node and round."""
    config = msg.content.config_records.get("config")
    server_round = int(config.get("server-round", 0)) if config is not None else 0
    return zlib.crc32(f"{context.run_id}:{context.node_id}:{server_round}".encode())
