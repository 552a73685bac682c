"""Building a batch message by message gives what decoding then preparing it gives."""

from __future__ import annotations

from consortium_core import subjects
from consortium_core.contracts.events import JobCreated, JobFailed, RoundCompleted
from consortium_metrics.batches import BatchBuilder, prepare
from consortium_metrics.decoding import decode_batch


def _messages() -> list[tuple[str, bytes, int]]:
    events = [
        JobCreated(id="c", job_id="j", task="t", strategy="s", rounds=2, at=1.0),
        RoundCompleted(
            id="r",
            job_id="j",
            round=0,
            duration_s=1,
            bytes_sent=1,
            bytes_received=1,
            at=2.0,
            participant_metrics={"h": {"loss": 1.0}},
        ),
        JobFailed(id="f", job_id="j", reason="boom", at=3.0),
    ]
    out = [
        (subjects.job_event(e.job_id, e.type), e.model_dump_json().encode(), i)
        for i, e in enumerate(events, 1)
    ]
    return [*out, (out[1][0], out[1][1], 4), (out[0][0], b"nonsense", 5)]


def test_incremental_and_whole_batch_preparation_agree() -> None:
    builder = BatchBuilder()
    for message in _messages():
        builder.add(*message)
    incremental, whole = builder.finish(), prepare(decode_batch(_messages()))
    assert incremental.event_rows == whole.event_rows and len(whole.event_rows) == 3
    assert incremental.rounds == whole.rounds and len(whole.rounds.participants) == 1
    assert incremental.jobs == whole.jobs and whole.jobs[0].status == "failed"
    assert incremental.batch.in_batch_duplicates == 1 and len(incremental.batch.rejected) == 1
    assert len(builder) == 5


def test_only_keeps_the_new_events_and_their_rows() -> None:
    prepared = prepare(decode_batch(_messages()))
    kept = prepared.only([0, 2])
    assert [row[0] for row in kept.event_rows] == ["c", "f"]
    assert kept.rounds.rounds == [] and kept.batch.rejected == prepared.batch.rejected


def test_an_event_whose_time_no_datetime_holds_is_rejected_not_lost() -> None:
    far = JobFailed(id="far", job_id="j", reason="x", at=1e20)
    builder = BatchBuilder()
    builder.add(subjects.job_event("j", "job_failed"), far.model_dump_json().encode(), 9)
    prepared = builder.finish()
    assert prepared.batch.events == [] and prepared.event_rows == [] and prepared.jobs == []
    [rejection] = prepared.batch.rejected
    assert rejection.stream_seq == 9 and rejection.reason.startswith("cannot be stored")
    assert rejection.raw == far.model_dump_json().encode()
