"""Turning stream messages into events: what is stored, what is rejected and why."""

from __future__ import annotations

from consortium_core import subjects
from consortium_core.contracts.events import JobFailed, JobStarted, RoundCompleted
from consortium_metrics.decoding import decode_batch, derived_event_id


def _message(event: object, seq: int) -> tuple[str, bytes, int]:
    subject = subjects.job_event(event.job_id, event.type)  # type: ignore[attr-defined]
    return subject, event.model_dump_json().encode(), seq  # type: ignore[attr-defined]


def test_valid_events_are_kept_in_stream_order_once_per_id() -> None:
    a = JobStarted(id="a", job_id="j", participants=["h1"])
    b = JobFailed(id="b", job_id="j", reason="boom")
    batch = decode_batch([_message(a, 1), _message(b, 2), _message(a, 3)])
    assert [e.id for e in batch.events] == ["a", "b"]
    assert batch.stream_seqs == [1, 2] and batch.in_batch_duplicates == 1
    assert batch.last_stream_seq == 3 and len(batch) == 3
    assert batch.payloads[0] == a.model_dump_json()


def test_every_malformed_message_is_rejected_with_a_reason() -> None:
    good = RoundCompleted(job_id="j", round=1, duration_s=1, bytes_sent=1, bytes_received=1)
    subject = subjects.job_event("j", "round_completed")
    raw = good.model_dump_json()
    cases = {
        b"{not json": "Invalid JSON",
        b'{"type": "job_exploded", "job_id": "j"}': "does not match any of the expected tags",
        b'{"type": "round_completed", "job_id": "j"}': "round_completed.round: Field required",
        raw.replace('"checkpoint":null', '"checkpoint":"\\udc00"').encode(): "surrogate",
    }
    messages = [(subject, data, seq) for seq, data in enumerate(cases, 1)]
    messages.append((subjects.job_event("other", "round_completed"), raw.encode(), 99))
    batch = decode_batch(messages)
    assert batch.events == []
    reasons = {r.stream_seq: r.reason for r in batch.rejected}
    for seq, expected in enumerate(cases.values(), 1):
        assert expected in reasons[seq], (seq, reasons[seq])
    assert "does not match the payload" in reasons[99]
    assert all(r.raw for r in batch.rejected) and batch.rejected[0].raw == b"{not json"


def test_an_event_without_id_gets_one_from_its_bytes() -> None:
    data = b'{"type": "job_failed", "job_id": "j", "reason": "old", "at": 1.0}'
    subject = subjects.job_event("j", "job_failed")
    first = decode_batch([(subject, data, 1)]).events[0]
    again = decode_batch([(subject, data, 7)]).events[0]
    assert first.id == again.id == derived_event_id(data)
