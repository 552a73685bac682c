"""Frames: round trips of Flower messages, and clear errors for corrupt bytes."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.chunking import Reassembler, split_frame
from consortium_core.errors import WireFormatError
from consortium_core.wire import decode_frame, encode_frame, peek_envelope
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.app.metadata import Metadata


def _metadata(message_type: str = "train") -> Metadata:
    return Metadata(
        run_id=7,
        message_id="m-1",
        src_node_id=0,
        dst_node_id=42,
        reply_to_message_id="",
        group_id="3",
        created_at=1.0,
        ttl=30.0,
        message_type=message_type,
    )


def _message() -> Message:
    rng = np.random.default_rng(0)
    content = RecordDict(
        {
            "arrays": ArrayRecord(
                {
                    "w": Array(rng.normal(size=(3, 4)).astype(np.float32)),
                    "b": Array(np.arange(4, dtype=np.int64)),
                }
            ),
            "config": ConfigRecord({"lr": 0.1, "name": "x", "blob": b"\x00\x01"}),
            "metrics": MetricRecord({"num-examples": 10, "loss": 0.5}),
            "more": ArrayRecord({"z": Array(np.zeros((0,), dtype=np.float64))}),
        }
    )
    return Message(metadata=_metadata(), content=content)


def test_round_trip_keeps_metadata_records_and_arrays() -> None:
    original = _message()
    back, envelope = decode_frame(encode_frame(original, {"job_id": "j", "task": "t"}))
    assert envelope == {"job_id": "j", "task": "t"}
    assert back.metadata.run_id == 7 and back.metadata.group_id == "3"
    assert back.metadata.message_id == "m-1" and back.metadata.dst_node_id == 42
    for key in ("w", "b"):
        np.testing.assert_array_equal(
            back.content["arrays"][key].numpy(), original.content["arrays"][key].numpy()
        )
    assert back.content["config"]["blob"] == b"\x00\x01"
    assert back.content["metrics"]["num-examples"] == 10
    assert back.content["more"]["z"].numpy().shape == (0,)


def test_error_message_round_trip() -> None:
    request = _message()
    reply = Message(Error(code=5, reason="gone"), reply_to=request)
    back, _ = decode_frame(encode_frame(reply, {}))
    assert back.has_error() and back.error.reason == "gone" and back.error.code == 5
    assert back.metadata.reply_to_message_id == "m-1"


def test_decodes_from_chunks_in_any_order() -> None:
    buffers = encode_frame(_message(), {"job_id": "j"})
    chunks = list(split_frame(buffers, transfer_id=b"x" * 16, chunk_size=100))
    assert len(chunks) > 3
    reassembler = Reassembler()
    results = [reassembler.add(c, now=0.0) for c in chunks[::-1]]
    segments = results[-1]
    assert all(r is None for r in results[:-1]) and segments is not None
    assert peek_envelope(segments) == {"job_id": "j"}
    back, _ = decode_frame(segments)
    assert back.content["arrays"]["w"].numpy().shape == (3, 4)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda f: f[:10],
        lambda f: b"XXXX" + f[4:],
        lambda f: f + b"extra",
        lambda f: f[:-1],
    ],
    ids=["truncated-header", "bad-magic", "trailing-bytes", "truncated-body"],
)
def test_corrupt_frames_raise_wire_format_error(mutate) -> None:  # type: ignore[no-untyped-def]
    frame = b"".join(encode_frame(_message(), {}))
    with pytest.raises(WireFormatError):
        decode_frame(mutate(frame))


def test_garbage_proto_raises_wire_format_error() -> None:
    frame = bytearray(b"".join(encode_frame(_message(), {})))
    # overwrite the start of the protobuf (after prefix, 3 lengths and the 2-byte envelope "{}")
    start = 16 + 8 * 3 + 2
    frame[start : start + 8] = b"\xff" * 8
    with pytest.raises(WireFormatError):
        decode_frame(bytes(frame))
