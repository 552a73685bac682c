"""Messages from the events stream -> events to store once, or rejections that say why.

Pure code (no NATS, no Postgres): the consumer hands each fetched batch here before it opens a
transaction. A message is rejected, never dropped, when it is not a valid event
(:func:`consortium_core.contracts.events.parse_event`), when its subject names another job or
type than its payload. (An event Postgres cannot store, for example one holding ``NaN``,
which the contract's parser accepts and JSON cannot carry, is rejected by the writer with
Postgres's reason: scanning every message's bytes for such tokens cost more here than the rare
batch written again event by event.) An event published without an ``id`` (events from
before ids existed) gets one derived from its bytes, so a redelivery maps to the same id.

>>> from consortium_core.contracts.events import JobFailed
>>> good = JobFailed(id="e1", job_id="j1", reason="out of memory", at=1.0)
>>> data = good.model_dump_json().encode()
>>> batch = decode_batch([
...     ("consortium.v1.events.job.j1.job_failed", data, 7),
...     ("consortium.v1.events.job.j1.job_failed", data, 8),
...     ("consortium.v1.events.job.j1.job_failed", b"{oops", 9),
... ])
>>> [e.id for e in batch.events], batch.stream_seqs, batch.in_batch_duplicates
(['e1'], [7], 1)
>>> batch.rejected[0].stream_seq, batch.rejected[0].reason
(9, 'not a job event: Invalid JSON: key must be a string at line 1 column 2')
>>> batch.last_stream_seq
9
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from consortium_core import subjects
from consortium_core.contracts.events import JobEvent, parse_event
from pydantic import ValidationError

__all__ = ["DecodedBatch", "Rejection", "decode_batch", "derived_event_id", "sha256_hex"]

_SUBJECT_PREFIX = f"{subjects.PREFIX}.events.job."
_MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that is not a storable event: kept with its subject, bytes and the reason."""

    stream_seq: int
    subject: str
    reason: str
    raw: bytes

    @property
    def raw_sha256(self) -> str:
        return sha256_hex(self.raw)


@dataclass(slots=True)
class DecodedBatch:
    """One fetched batch, split: events (first of each id, in stream order) and rejections."""

    events: list[JobEvent] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    stream_seqs: list[int] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    in_batch_duplicates: int = 0
    last_stream_seq: int = 0
    _seen: set[str] = field(default_factory=set, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.events) + len(self.rejected) + self.in_batch_duplicates

    def add(self, subject: str, data: bytes, stream_seq: int) -> JobEvent | None:
        """Decode one message into this batch; the event when it is valid and new here."""
        if stream_seq > self.last_stream_seq:
            self.last_stream_seq = stream_seq
        try:
            event = parse_event(data)
        except ValidationError as error:
            reason = "not a job event: " + _validation_reason(error)
            self.rejected.append(Rejection(stream_seq, subject, reason[:_MAX_REASON], data))
            return None
        problem = _subject_problem(subject, event)
        if problem is not None:
            self.rejected.append(Rejection(stream_seq, subject, problem[:_MAX_REASON], data))
            return None
        if "id" not in event.model_fields_set:
            event.id = derived_event_id(data)
        if event.id in self._seen:
            self.in_batch_duplicates += 1
            return None
        self._seen.add(event.id)
        self.events.append(event)
        self.subjects.append(subject)
        self.stream_seqs.append(stream_seq)
        self.payloads.append(data.decode())
        return event

    def reject_last(self, reason: str) -> None:
        """Turn the event :meth:`add` just accepted into a rejection (it cannot be stored)."""
        event, subject = self.events.pop(), self.subjects.pop()
        seq, payload = self.stream_seqs.pop(), self.payloads.pop()
        self._seen.discard(event.id)
        self.rejected.append(Rejection(seq, subject, reason[:_MAX_REASON], payload.encode()))


def sha256_hex(raw: bytes) -> str:
    """Hex SHA-256 of ``raw``.

    >>> sha256_hex(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(raw).hexdigest()


def derived_event_id(raw: bytes) -> str:
    """The id of an event published without one: a digest of its bytes (stable on redelivery).

    >>> derived_event_id(b'{"job_id": "j"}')
    'raw-afe7d4ae868b057e2454b0ad66466d1de9ac0562'
    """
    return "raw-" + sha256_hex(raw)[:40]


def _validation_reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _subject_problem(subject: str, event: JobEvent) -> str | None:
    if not subject.startswith(_SUBJECT_PREFIX):
        return None  # another publisher's layout: the payload is what counts
    expected = subjects.job_event(event.job_id, event.type)
    if subject != expected:
        return f"subject {subject!r} does not match the payload (expected {expected!r})"
    return None


def decode_batch(messages: Iterable[tuple[str, bytes, int]]) -> DecodedBatch:
    """Split ``(subject, data, stream_seq)`` messages into events and rejections."""
    batch = DecodedBatch()
    for subject, data, stream_seq in messages:
        batch.add(subject, data, stream_seq)
    return batch
