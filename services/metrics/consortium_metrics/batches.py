"""A fetched batch, decoded and turned into the rows it writes, before its transaction.

Pure code. The consumer feeds each message to a :class:`BatchBuilder` as it arrives, so the
decoding and row building (tens of microseconds per event in Python) are spread between
the event loop's other work; were they done per batch in one go, the writer's next statement
would wait behind them and Postgres would sit idle.

>>> from consortium_core.contracts.events import JobStarted, RoundCompleted
>>> builder = BatchBuilder()
>>> for seq, event in enumerate([
...     JobStarted(id="a", job_id="j", participants=["h1"], at=1.0),
...     RoundCompleted(id="b", job_id="j", round=0, duration_s=0.1, bytes_sent=1,
...                    bytes_received=1, at=2.0, participant_metrics={"h1": {"loss": 1.0}}),
... ], start=1):
...     builder.add(f"consortium.v1.events.job.j.{event.type}", event.model_dump_json().encode(),
...                 seq)
>>> prepared = builder.finish()
>>> len(prepared.event_rows), len(prepared.rounds.rounds), len(prepared.rounds.participants)
(2, 1, 1)
>>> [(c.job_id, c.status, c.last_round) for c in prepared.jobs]
[('j', 'running', 0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from consortium_core.contracts.events import JobEvent, RoundCompleted

from .decoding import DecodedBatch
from .projections import JobChange, JobChanges, RoundRows, RoundRowsBuilder

__all__ = ["EVENT_COLUMNS", "BatchBuilder", "PreparedBatch", "prepare"]

EVENT_COLUMNS = ("event_id", "job_id", "type", "at", "stream_seq", "payload")

_utc = datetime.fromtimestamp


@dataclass(slots=True)
class PreparedBatch:
    """A decoded batch with the rows it writes if all its events are new."""

    batch: DecodedBatch
    event_rows: list[tuple[object, ...]]
    rounds: RoundRows
    jobs: list[JobChange]

    def only(self, keep: list[int]) -> PreparedBatch:
        """The same batch with only the events at positions ``keep`` (rejections stay)."""
        b = self.batch
        return prepare(
            DecodedBatch(
                events=[b.events[i] for i in keep],
                subjects=[b.subjects[i] for i in keep],
                stream_seqs=[b.stream_seqs[i] for i in keep],
                payloads=[b.payloads[i] for i in keep],
                rejected=b.rejected,
                in_batch_duplicates=b.in_batch_duplicates,
                last_stream_seq=b.last_stream_seq,
            )
        )


class BatchBuilder:
    """Decodes messages one at a time and keeps the rows of their events up to date."""

    def __init__(self) -> None:
        self.batch = DecodedBatch()
        self._event_rows: list[tuple[object, ...]] = []
        self._rounds = RoundRowsBuilder()
        self._jobs = JobChanges()

    @classmethod
    def of(cls, batch: DecodedBatch) -> BatchBuilder:
        """A builder holding an already decoded batch and its rows."""
        builder = cls()
        builder.batch = batch
        for event, seq, payload in zip(
            batch.events, batch.stream_seqs, batch.payloads, strict=True
        ):
            builder._project(event, seq, payload)
        return builder

    def __len__(self) -> int:
        return len(self.batch)

    def add(self, subject: str, data: bytes, stream_seq: int) -> None:
        """Decode one message (a rejection or a duplicate adds no rows)."""
        event = self.batch.add(subject, data, stream_seq)
        if event is None:
            return
        try:
            self._project(event, stream_seq, self.batch.payloads[-1])
        except (ValueError, OverflowError, OSError) as error:  # a time no datetime can hold
            self.batch.reject_last(f"cannot be stored: {error}")

    def _project(self, event: JobEvent, stream_seq: int, payload: str) -> None:
        at = _utc(event.at, UTC)  # first: what fails here must change nothing
        self._event_rows.append((event.id, event.job_id, event.type, at, stream_seq, payload))
        if event.type == "round_completed":
            assert isinstance(event, RoundCompleted)
            self._rounds.add(event)
        self._jobs.add(event)

    def finish(self) -> PreparedBatch:
        """The batch and its rows."""
        return PreparedBatch(
            self.batch, self._event_rows, self._rounds.rows(), self._jobs.changes()
        )


def prepare(batch: DecodedBatch) -> PreparedBatch:
    """The rows an already decoded batch writes if all its events are new."""
    return BatchBuilder.of(batch).finish()
