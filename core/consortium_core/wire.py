"""Wire format of a Flower ``Message`` on Consortium's transport.

A frame is Flower's own protobuf (``flwr.common.serde.message_to_proto``) with one change: the
bytes of every ``Array`` travel after the protobuf, out of band, instead of inside it. The
protobuf then stays a few kilobytes even for a 47 MB model, and array bytes are never copied into
and out of a protobuf message (that copy was most of the cost of a round for large models).

Layout (little-endian)::

    b"CSM1" | u32 envelope_len | u32 proto_len | u32 n_arrays | u64 array_len * n_arrays
            | envelope (JSON) | proto (flwr.proto.message_pb2.Message) | array bytes ...

The envelope carries what the transport needs besides the message (job, task, run config).

>>> import numpy as np
>>> from flwr.app import Array, ArrayRecord, Message, RecordDict
>>> from flwr.app.metadata import Metadata
>>> meta = Metadata(run_id=1, message_id="m1", src_node_id=0, dst_node_id=7,
...                 reply_to_message_id="", group_id="", created_at=0.0, ttl=60.0,
...                 message_type="train")
>>> weights = Array(np.arange(6, dtype=np.float32).reshape(2, 3))
>>> rec = RecordDict({"arrays": ArrayRecord({"w": weights})})
>>> msg = Message(metadata=meta, content=rec)
>>> buffers = encode_frame(msg, {"task": "digits-cnn"})
>>> back, envelope = decode_frame(buffers)
>>> envelope, back.metadata.message_id, back.content["arrays"]["w"].numpy().tolist()
({'task': 'digits-cnn'}, 'm1', [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from flwr.app import Array, ArrayRecord, Message, RecordDict
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage  # pylint: disable=E0611

from .errors import WireFormatError

__all__ = ["MAGIC", "decode_frame", "encode_frame", "frame_size", "peek_envelope"]

MAGIC = b"CSM1"
_PREFIX = struct.Struct("<4sIII")


def _arrays_in_order(content: RecordDict) -> Iterator[tuple[ArrayRecord, str, Array]]:
    for record in content.values():
        if isinstance(record, ArrayRecord):
            for key, array in record.items():
                yield record, key, array


def _hollow_copy(message: Message) -> tuple[Message, list[bytes]]:
    """A shallow copy of ``message`` whose arrays carry no bytes, and those bytes in order."""
    if not message.has_content():
        return message, []
    hollow = RecordDict()
    data: list[bytes] = []
    for name, record in message.content.items():
        if isinstance(record, ArrayRecord):
            empty = ArrayRecord()
            for key, array in record.items():
                data.append(array.data)
                empty[key] = Array(
                    dtype=array.dtype, shape=tuple(array.shape), stype=array.stype, data=b""
                )
            hollow[name] = empty
        else:
            hollow[name] = record
    return Message(metadata=message.metadata, content=hollow), data


def encode_frame(message: Message, envelope: Mapping[str, Any]) -> list[bytes]:
    """Serialize ``message`` and ``envelope`` into a list of buffers that form one frame.

    The buffers are returned separately so that a transport can cut them into chunks without
    first joining them into one large copy.
    """
    hollow, data = _hollow_copy(message)
    proto = message_to_proto(hollow).SerializeToString()
    env = json.dumps(dict(envelope), separators=(",", ":")).encode()
    lengths = struct.pack(f"<{len(data)}Q", *(len(d) for d in data))
    prefix = _PREFIX.pack(MAGIC, len(env), len(proto), len(data))
    return [prefix + lengths + env + proto, *data]


def frame_size(buffers: list[bytes]) -> int:
    """Total number of bytes of a frame made by :func:`encode_frame`."""
    return sum(len(b) for b in buffers)


class _SegmentReader:
    """Reads consecutive byte ranges from a list of segments, copying only across boundaries."""

    def __init__(self, segments: Sequence[bytes | bytearray | memoryview]) -> None:
        self._segments = [memoryview(s).cast("B") for s in segments if len(s)]
        self._index = 0
        self._offset = 0
        self.remaining = sum(len(s) for s in self._segments)

    def read(self, size: int) -> bytes:
        if size > self.remaining:
            raise WireFormatError(f"frame ends early: wanted {size} bytes, {self.remaining} left")
        self.remaining -= size
        pieces: list[memoryview] = []
        while size:
            segment = self._segments[self._index]
            take = min(size, len(segment) - self._offset)
            pieces.append(segment[self._offset : self._offset + take])
            size -= take
            self._offset += take
            if self._offset == len(segment):
                self._index, self._offset = self._index + 1, 0
        return b"".join(pieces)


def decode_frame(
    frame: bytes | bytearray | memoryview | Sequence[bytes | bytearray | memoryview],
) -> tuple[Message, dict[str, Any]]:
    """Parse a frame made by :func:`encode_frame`; raise :class:`WireFormatError` if invalid.

    ``frame`` is the frame's bytes, or the list of segments it arrived in (chunk payloads).
    """
    segments = [frame] if isinstance(frame, bytes | bytearray | memoryview) else frame
    reader = _SegmentReader(segments)
    magic, env_len, proto_len, n_arrays = _PREFIX.unpack(reader.read(_PREFIX.size))
    if magic != MAGIC:
        raise WireFormatError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    lengths = struct.unpack(f"<{n_arrays}Q", reader.read(8 * n_arrays)) if n_arrays else ()
    expected = env_len + proto_len + sum(lengths)
    if expected != reader.remaining:
        raise WireFormatError(f"frame body is {reader.remaining} bytes, its header says {expected}")
    try:
        envelope = json.loads(reader.read(env_len))
        proto = ProtoMessage.FromString(reader.read(proto_len))
        message = message_from_proto(proto)
    except Exception as exc:  # protobuf and json raise several unrelated types
        raise WireFormatError(f"undecodable frame: {exc}") from exc
    if not isinstance(envelope, dict):
        raise WireFormatError("envelope is not a JSON object")
    slots = list(_arrays_in_order(message.content)) if message.has_content() else []
    if len(slots) != n_arrays:
        raise WireFormatError(f"frame lists {n_arrays} arrays, its message has {len(slots)}")
    for (record, key, array), length in zip(slots, lengths, strict=True):
        record[key] = Array(
            dtype=array.dtype, shape=tuple(array.shape), stype=array.stype, data=reader.read(length)
        )
    return message, envelope


def peek_envelope(
    frame: bytes | bytearray | memoryview | Sequence[bytes | bytearray | memoryview],
) -> dict[str, Any]:
    """Read only the envelope of a frame (cheap: the arrays are not touched)."""
    segments = [frame] if isinstance(frame, bytes | bytearray | memoryview) else frame
    reader = _SegmentReader(segments)
    magic, env_len, _proto_len, n_arrays = _PREFIX.unpack(reader.read(_PREFIX.size))
    if magic != MAGIC:
        raise WireFormatError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    reader.read(8 * n_arrays)
    try:
        envelope = json.loads(reader.read(env_len))
    except ValueError as exc:
        raise WireFormatError(f"undecodable envelope: {exc}") from exc
    if not isinstance(envelope, dict):
        raise WireFormatError("envelope is not a JSON object")
    return envelope
