"""The server's side of update compression: a strategy wrapper, like Flower's DP wrappers.

:class:`CompressionStrategy` wraps the job's strategy (outermost, around central DP):

- ``configure_train``/``configure_evaluate``: with ``compression.down = q8`` the global model
  in each message is replaced by its q8 encoding (``compressed.down``), encoded once per call.
  The weights themselves are sent, not their difference from the last broadcast: a participant
  that skipped rounds (sampling, a restart, a lost message) could not apply a difference, and
  the server cannot know what each participant last decoded.
- ``aggregate_train``: each reply's ``compressed.up`` (the participant's delta) is decoded and
  turned back into a full model, ``sent + delta``, where ``sent`` is the server's full-precision
  model that went to that participant, so the wrapped strategy (and server-side clipping) sees
  plain replies and the global model keeps full precision; the downlink's quantization error
  never accumulates in it. A reply whose payload cannot be decoded is left out of the round
  and logged with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from logging import INFO, WARNING

import numpy as np
from consortium_core.compression import (
    CompressedPayloadError,
    CompressionSettings,
    EncodedTensors,
    encode_tensors,
)
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from .compression_records import (
    DOWN_KEY,
    UP_KEY,
    decode_from,
    has_payload,
    numpy_tensors,
    put_encoded,
    tensor_record,
)

__all__ = ["CompressionStrategy"]


class CompressionStrategy(Strategy):
    """Compresses the broadcast and decodes participants' compressed deltas for ``strategy``."""

    def __init__(self, strategy: Strategy, *, settings: CompressionSettings) -> None:
        super().__init__()
        self.strategy = strategy
        self.settings = settings
        self._sent: dict[int, ArrayRecord] = {}
        self.refused: dict[int, str] = {}
        """Why each participant's last undecodable reply was left out, by node id."""

    def __repr__(self) -> str:
        return f"CompressionStrategy({self.settings.describe()}) around {self.strategy!r}"

    def summary(self) -> None:
        """Log the compression setting, then the wrapped strategy's summary."""
        log(INFO, "\t├── Compression: %s", self.settings.describe())
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The wrapped strategy's training messages, the model q8-encoded when asked."""
        messages = list(self.strategy.configure_train(server_round, arrays, config, grid))
        self._sent = {
            m.metadata.dst_node_id: m.content.array_records["arrays"]
            for m in messages
            if "arrays" in m.content.array_records
        }
        return self._encode_downlink(messages)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Rebuild each compressed reply into a full model, then aggregate as wrapped."""
        usable = []
        for reply in replies:
            if reply.has_error() or not has_payload(reply.content, UP_KEY):
                usable.append(reply)
                continue
            node_id = reply.metadata.src_node_id
            try:
                reply.content["arrays"] = self._rebuild(node_id, reply)
            except CompressedPayloadError as exc:
                self.refused[node_id] = str(exc)
                log(WARNING, "compressed update from node %s left out: %s", node_id, exc)
                continue
            usable.append(reply)
        return self.strategy.aggregate_train(server_round, usable)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The wrapped strategy's evaluation messages, the model q8-encoded when asked."""
        messages = list(self.strategy.configure_evaluate(server_round, arrays, config, grid))
        return self._encode_downlink(messages)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        """As the wrapped strategy."""
        return self.strategy.aggregate_evaluate(server_round, replies)

    def _encode_downlink(self, messages: list[Message]) -> list[Message]:
        if self.settings.down == "none":
            return messages
        compressor = self.settings.downlink()
        cache: dict[int, EncodedTensors] = {}
        for message in messages:
            record = message.content.array_records.get("arrays")
            if record is None:
                continue
            if id(record) not in cache:
                cache[id(record)] = encode_tensors(
                    tensors=numpy_tensors(record), compressor=compressor
                )
            del message.content["arrays"]
            put_encoded(message.content, DOWN_KEY, cache[id(record)])
        return messages

    def _rebuild(self, node_id: int, reply: Message) -> ArrayRecord:
        sent = self._sent.get(node_id)
        if sent is None:
            raise CompressedPayloadError(f"no model was sent to node {node_id} this round")
        delta = decode_from(reply.content, UP_KEY)
        base = numpy_tensors(sent)
        if set(delta) != set(base):
            raise CompressedPayloadError(
                f"delta names {sorted(delta)} differ from the model's {sorted(base)}"
            )
        rebuilt = {}
        for name, value in base.items():
            if delta[name].shape != value.shape:
                raise CompressedPayloadError(
                    f"tensor {name!r}: delta shape {delta[name].shape}, model {value.shape}"
                )
            total = value + delta[name]
            if np.issubdtype(total.dtype, np.inexact) and not np.isfinite(total).all():
                raise CompressedPayloadError(f"tensor {name!r}: the rebuilt model is not finite")
            rebuilt[name] = total.astype(value.dtype)
        return tensor_record(rebuilt)
