"""The metrics consumer against real NATS JetStream and Postgres: what it stores, exactly.

Events are published the way the coordinator publishes them (its ``EventPublisher``), plus
what a real stream can hold besides: the same event again under another ``Nats-Msg-Id`` (a
republishing coordinator), a malformed message, a subject that lies about its payload, and
events arriving late and out of order. The consumer runs in this process with small batches,
so every rule is exercised across batch boundaries.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from consortium_client.transport import connect
from consortium_coordinator.events import EventPublisher
from consortium_core import subjects
from consortium_core.contracts.events import (
    JobCreated,
    JobEvent,
    JobFailed,
    JobFinished,
    JobStarted,
    RoundCompleted,
)
from consortium_core.errors import UnknownNameError
from consortium_core.privacy.accounting import composed_epsilon
from consortium_metrics import queries
from consortium_metrics.batches import prepare
from consortium_metrics.consumer import EventConsumer
from consortium_metrics.db.bootstrap import migrate
from consortium_metrics.db.writer import BatchWriter
from consortium_metrics.decoding import decode_batch
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from support.metrics import private_database

pytestmark = pytest.mark.integration

DP = {"dp_noise_multiplier": 1.1, "dp_sample_rate": 0.02, "dp_steps": 50.0, "dp_delta": 1e-5}


@pytest.fixture(scope="module")
def metrics_db(postgres_url: str) -> Iterator[str]:
    with private_database(postgres_url) as url:
        migrate(url)
        yield url


@pytest.fixture
async def sessions(metrics_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(metrics_db)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def _round(job: str, number: int, at: float, **extra: Any) -> RoundCompleted:
    fields: dict[str, Any] = {
        "metrics": {"accuracy": 0.5 + number / 10},
        "duration_s": 0.25,
        "bytes_sent": 1000,
        "bytes_received": 2000,
        "participants": ["h1", "h2"],
        "participant_metrics": {"h1": {"loss": 0.3, **DP}, "h2": {"loss": 0.4}},
        "checkpoint": f"{job}/{number}",
    }
    return RoundCompleted(job_id=job, round=number, at=at, **{**fields, **extra})


def _stories(tag: str) -> dict[str, list[JobEvent]]:
    a, b, c = f"{tag}-done", f"{tag}-failed", f"{tag}-headless"
    return {
        # completed; its job_started arrives again, late, after the end
        a: [
            JobCreated(
                job_id=a,
                task="digits-cnn",
                strategy="FedAvg",
                rounds=2,
                name="A",
                client_task="digits-cnn",
                min_participants=2,
                at=100,
            ),
            JobStarted(job_id=a, participants=["h1", "h2"], at=101),
            _round(a, 0, 102),
            _round(a, 1, 103),
            _round(a, 2, 104),
            JobFinished(job_id=a, rounds=2, metrics={"accuracy": 0.7}, duration_s=4.5, at=105),
            JobStarted(job_id=a, participants=["late"], at=106),
        ],
        # failed, then a round completed before the failure arrives late
        b: [
            JobCreated(job_id=b, task="digits-cnn", strategy="FedAvg", rounds=5, at=200),
            JobStarted(job_id=b, participants=["h1"], at=201),
            JobFailed(job_id=b, reason="too few participants returned an update", at=210),
            _round(b, 0, 205),
        ],
        # its job_created was never seen: known through rounds only
        c: [_round(c, 0, 300), _round(c, 1, 301)],
    }


async def _publish_raw(nc: nats.NATS, subject: str, data: bytes, msg_id: str) -> None:
    await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def _wait_for(sessions: async_sessionmaker[AsyncSession], sql: str, expected: int) -> None:
    for _ in range(300):
        async with sessions() as session:
            if (await session.execute(text(sql))).scalar_one() >= expected:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {sql!r} to reach {expected}")


async def test_the_consumer_stores_every_event_once_and_projects_them(
    nats_server, metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tag = uuid.uuid4().hex[:8]
    stories = _stories(tag)
    a, b, c = stories
    nc = await nats.connect(nats_server.url)
    publisher = EventPublisher(nc)
    await publisher.ensure_stream()
    for events in itertools.zip_longest(*stories.values()):  # jobs running side by side
        for event in events:
            if event is not None:
                await publisher.publish(event)
    published = [e for events in stories.values() for e in events]
    assert len({e.id for e in published}) == len(published) == 13
    # a coordinator republishing an event (another Nats-Msg-Id: JetStream keeps both)
    again = stories[a][2]
    await _publish_raw(
        nc, subjects.job_event(a, again.type), again.model_dump_json().encode(), "republished"
    )
    # the same Nats-Msg-Id within the duplicate window: JetStream itself drops it
    await publisher.publish(again)
    # a round replayed under a new event id, newer: it replaces the stored round
    replay = _round(a, 1, 150, metrics={"accuracy": 0.99})
    await publisher.publish(replay)
    # not events at all
    await _publish_raw(nc, subjects.job_event(a, "round_completed"), b"{broken", "bad-1")
    await _publish_raw(
        nc,
        subjects.job_event(b, "job_failed"),
        JobFailed(job_id=a, reason="x").model_dump_json().encode(),
        "bad-2",
    )

    writer = BatchWriter(metrics_db)
    consumer = EventConsumer(
        nc, writer, durable=f"test-{tag}", batch_size=4, fetch_wait_s=0.1, prefetch_batches=2
    )
    await consumer.start()
    try:
        ours = f"job_id LIKE '{tag}-%'"
        await _wait_for(sessions, f"SELECT count(*) FROM metrics_events WHERE {ours}", 14)
        await _wait_for(
            sessions,
            "SELECT count(*) FROM metrics_rejected_events "
            f"WHERE subject LIKE 'consortium.v1.events.job.{tag}-%'",
            2,
        )
        assert consumer.running and consumer.problems() == []
    finally:
        await consumer.stop()
        await writer.close()
        await nc.close()

    async with sessions() as session:
        rows = (
            await session.execute(
                text(f"SELECT event_id, type, payload::text FROM metrics_events WHERE {ours}")
            )
        ).all()
        assert sorted(r[0] for r in rows) == sorted(e.id for e in [*published, replay])
        payloads = {r[0]: r[2] for r in rows}
        assert payloads[again.id] == again.model_dump_json()  # the text as published

        done = await queries.get_job(session, a)
        assert done is not None
        assert (done.status, done.reason, done.name, done.task, done.client_task) == (
            "completed",
            "",
            "A",
            "digits-cnn",
            "digits-cnn",
        )
        assert (done.planned_rounds, done.min_participants, done.last_round) == (2, 2, 2)
        assert done.participants == ["h1", "h2"]  # not the late job_started's
        assert (done.final_metrics, done.duration_s) == ({"accuracy": 0.7}, 4.5)
        assert (done.created_at.timestamp(), done.finished_at.timestamp()) == (100, 105)

        failed = await queries.get_job(session, b)
        assert failed is not None
        assert (failed.status, failed.reason, failed.last_round) == (
            "failed",
            "too few participants returned an update",
            0,
        )
        assert failed.duration_s == 9.0  # finished minus started

        headless = await queries.get_job(session, c)
        assert headless is not None
        assert (headless.status, headless.task, headless.last_round) == ("running", None, 1)
        assert headless.created_at.timestamp() == 300

        rounds = await queries.list_rounds(session, a)
        assert [r.round for r in rounds] == [0, 1, 2]
        assert rounds[1].metrics == {"accuracy": 0.99} and rounds[0].metrics == {"accuracy": 0.5}
        assert rounds[2].participant_metrics["h1"]["dp_steps"] == 50.0
        assert (rounds[2].checkpoint, rounds[2].bytes_received) == (f"{a}/2", 2000)
        assert await queries.list_rounds(session, "no-such-job") == []
        assert await queries.get_job(session, "no-such-job") is None

        reports = await queries.participant_metrics(session, a)
        assert [(r.participant, r.round) for r in reports] == [
            ("h1", 0),
            ("h1", 1),
            ("h1", 2),
            ("h2", 0),
            ("h2", 1),
            ("h2", 2),
        ]
        assert reports[0].dp is not None and reports[0].dp.steps == 50
        assert reports[3].dp is None and reports[3].metrics == {"loss": 0.4}

        spent = {p.participant: p for p in await queries.privacy_spent(session, a)}
        expected = composed_epsilon(accountant="rdp", history=[(1.1, 0.02, 50)] * 3, delta=1e-5)
        assert spent["h1"].epsilon == pytest.approx(expected)
        assert (spent["h1"].dp_rounds, spent["h1"].steps, spent["h1"].delta) == (3, 150, 1e-5)
        assert (spent["h2"].epsilon, spent["h2"].rounds, spent["h2"].dp_rounds) == (None, 3, 0)

        completed = await queries.list_jobs(session, status="completed", limit=1000)
        assert a in {j.job_id for j in completed} and b not in {j.job_id for j in completed}
        with pytest.raises(UnknownNameError):
            await queries.list_jobs(session, status="exploded")

        rejected = (
            await session.execute(
                text(
                    "SELECT subject, reason, raw FROM metrics_rejected_events "
                    f"WHERE subject LIKE 'consortium.v1.events.job.{tag}-%' ORDER BY stream_seq"
                )
            )
        ).all()
        assert rejected[0].raw == b"{broken" and "Invalid JSON" in rejected[0].reason
        assert "does not match the payload" in rejected[1].reason

        status = await queries.ingest_status(session)
        assert status.events_stored >= 14 and status.duplicates_skipped >= 1
        assert status.rejected >= 2 and status.last_event_at is not None


async def test_a_redelivered_batch_changes_nothing(
    metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tag = uuid.uuid4().hex[:8]
    events = [e for story in _stories(tag).values() for e in story]
    messages = [
        (subjects.job_event(e.job_id, e.type), e.model_dump_json().encode(), i)
        for i, e in enumerate(events, 1)
    ]
    writer = BatchWriter(metrics_db)
    try:
        first = await writer.write(prepare(decode_batch(messages)))
        async with sessions() as session:
            before = [await queries.get_job(session, j) for j in _stories(tag)]
            rounds_before = await queries.list_rounds(session, f"{tag}-done")
        again = await writer.write(prepare(decode_batch(messages)))
    finally:
        await writer.close()
    assert (first.stored, first.duplicates) == (len(events), 0)
    assert (again.stored, again.duplicates, again.rejected) == (0, len(events), 0)
    async with sessions() as session:
        assert [await queries.get_job(session, j) for j in _stories(tag)] == before
        assert await queries.list_rounds(session, f"{tag}-done") == rounds_before


async def test_batches_of_any_size_give_the_same_projection(
    metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Postgres's merge (the SQL twin of projections.merge) across batches and Python's fold
    within one batch agree."""
    tags = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    writer = BatchWriter(metrics_db)
    try:
        for tag, size in zip(tags, (1000, 1), strict=True):
            events = [e for story in _stories(tag).values() for e in story]
            messages = [
                (subjects.job_event(e.job_id, e.type), e.model_dump_json().encode(), i)
                for i, e in enumerate(events, 1)
            ]
            for start in range(0, len(messages), size):
                await writer.write(prepare(decode_batch(messages[start : start + size])))
    finally:
        await writer.close()

    def scrub(value: Any, tag: str) -> Any:
        """The value with the job ids' tag taken out, so two tags' jobs compare."""
        if isinstance(value, str):
            return value.replace(tag, "")
        if isinstance(value, list):
            return [scrub(v, tag) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v, tag) for k, v in value.items()}
        return value

    async with sessions() as session:
        for suffix in ("done", "failed", "headless"):
            jobs = [await queries.get_job(session, f"{t}-{suffix}") for t in tags]
            rounds = [await queries.list_rounds(session, f"{t}-{suffix}") for t in tags]
            assert all(jobs) and rounds[0]
            assert scrub(jobs[0].model_dump(), tags[0]) == scrub(jobs[1].model_dump(), tags[1])
            assert scrub([r.model_dump() for r in rounds[0]], tags[0]) == scrub(
                [r.model_dump() for r in rounds[1]], tags[1]
            )


async def test_events_postgres_refuses_are_rejected_and_the_rest_stored(
    metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Valid to the contract, but not storable: each is kept as rejected with Postgres's
    reason, and the batch's other events are stored."""
    job = f"{uuid.uuid4().hex[:8]}-j"
    fine = _round(job, 0, 1.0)
    huge = _round(job, 2**40, 2.0)  # a round number past the column's range
    nan = _round(job, 1, 3.0).model_dump_json().replace('"duration_s":0.25', '"duration_s":NaN')
    nul = JobFailed(job_id=job, reason="a\x00b", at=4.0)  # Postgres text cannot hold NUL
    subject = subjects.job_event(job, "round_completed")
    messages = [
        (subject, fine.model_dump_json().encode(), 1),
        (subject, huge.model_dump_json().encode(), 2),
        (subject, nan.encode(), 3),
        (subjects.job_event(job, "job_failed"), nul.model_dump_json().encode(), 4),
    ]
    writer = BatchWriter(metrics_db)
    try:
        result = await writer.write(prepare(decode_batch(messages)))
    finally:
        await writer.close()
    assert (result.stored, result.rejected, result.one_by_one) == (1, 3, True)
    async with sessions() as session:
        reasons = (
            await session.execute(
                text(
                    "SELECT stream_seq, reason FROM metrics_rejected_events "
                    "WHERE subject LIKE :like ORDER BY stream_seq"
                ),
                {"like": f"consortium.v1.events.job.{job}.%"},
            )
        ).all()
        assert [seq for seq, _ in reasons] == [2, 3, 4]
        assert all(reason.startswith("Postgres refused it") for _, reason in reasons)
        assert [r.round for r in await queries.list_rounds(session, job)] == [0]
        stored = await queries.get_job(session, job)
        assert stored is not None and (stored.status, stored.last_round) == ("running", 0)


async def test_a_diverged_round_with_nan_metrics_is_stored(
    metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A NaN loss, as the contract writes it ("NaN": JSON has no NaN), is stored and read back."""
    job = f"{uuid.uuid4().hex[:8]}-j"
    diverged = _round(job, 1, 1.0).model_copy(
        update={"metrics": {"loss": float("nan"), "accuracy": 0.1}}
    )
    subject = subjects.job_event(job, "round_completed")
    writer = BatchWriter(metrics_db)
    try:
        result = await writer.write(
            prepare(decode_batch([(subject, diverged.model_dump_json().encode(), 1)]))
        )
    finally:
        await writer.close()
    assert (result.stored, result.rejected) == (1, 0)
    async with sessions() as session:
        [stored] = await queries.list_rounds(session, job)
    assert math.isnan(stored.metrics["loss"]) and stored.metrics["accuracy"] == 0.1


async def test_a_nats_restart_mid_stream_loses_nothing(
    nats_server, metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The consumer reconnects by itself, resets its durable to the acknowledged floor, and
    every event published before and after the restart is stored once."""
    tag = uuid.uuid4().hex[:8]
    events = [e for story in _stories(tag).values() for e in story]
    before, after = events[:7], events[7:]
    nc = await connect(nats_server.url, name="metrics-test")
    writer = BatchWriter(metrics_db)
    consumer = EventConsumer(nc, writer, durable=f"restart-{tag}", batch_size=3, fetch_wait_s=0.1)
    await consumer.start()
    ours = f"SELECT count(*) FROM metrics_events WHERE job_id LIKE '{tag}-%'"
    try:
        await _publish_all(nats_server.url, before)
        await _wait_for(sessions, ours, len(before))
        await asyncio.to_thread(nats_server.stop)
        await asyncio.to_thread(nats_server.start)
        await _publish_all(nats_server.url, after)
        await _wait_for(sessions, ours, len(events))
        assert consumer.resets >= 1
    finally:
        await consumer.stop()
        await writer.close()
        await nc.close()
    async with sessions() as session:
        ids = (
            await session.execute(
                text(f"SELECT event_id FROM metrics_events WHERE job_id LIKE '{tag}-%'")
            )
        ).scalars()
        assert sorted(ids) == sorted(e.id for e in events)
        job = await queries.get_job(session, f"{tag}-done")
        assert job is not None and job.status == "completed"


async def _publish_all(nats_url: str, events: list[JobEvent]) -> None:
    nc = await nats.connect(nats_url)
    publisher = EventPublisher(nc)
    await publisher.ensure_stream()
    for event in events:
        await publisher.publish(event)
    await nc.close()


async def test_a_spend_that_cannot_be_accounted_is_named_not_fatal(
    metrics_db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    job = f"{uuid.uuid4().hex[:8]}-dp"
    bad = {**DP, "dp_sample_rate": 2.0}  # a participant reporting nonsense
    event = _round(job, 0, 1.0, participant_metrics={"ok": DP, "bad": bad, "plain": {"x": 1}})
    writer = BatchWriter(metrics_db)
    try:
        message = (subjects.job_event(job, event.type), event.model_dump_json().encode(), 1)
        await writer.write(prepare(decode_batch([message])))
    finally:
        await writer.close()
    async with sessions() as session:
        spent = {p.participant: p for p in await queries.privacy_spent(session, job)}
    assert spent["ok"].epsilon == pytest.approx(
        composed_epsilon(accountant="rdp", history=[(1.1, 0.02, 50)], delta=1e-5)
    )
    assert spent["bad"].epsilon is None and "sample_rate" in (spent["bad"].problem or "")
    assert (spent["plain"].epsilon, spent["plain"].problem, spent["plain"].dp_rounds) == (
        None,
        None,
        0,
    )
