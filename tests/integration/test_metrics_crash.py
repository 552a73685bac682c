"""``kill -9`` the metrics service while it ingests a stream of job events, start it again, and
prove that no event is lost and none is stored twice.

The real ``consortium-metrics`` process consumes while events are published the way the
coordinator publishes them (``EventPublisher``: JetStream publish with the event id as
``Nats-Msg-Id``, acknowledged one by one). It is killed with SIGKILL mid-stream, so batches it
had fetched, or stored without acknowledging, are left behind; the second process resumes
the same durable consumer from its acknowledged floor.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import nats
import pytest
from consortium_coordinator.events import EventPublisher
from consortium_core import subjects
from consortium_core.contracts.events import (
    JobCreated,
    JobEvent,
    JobFinished,
    JobStarted,
    RoundCompleted,
)
from support.metrics import MetricsService, private_database
from support.processes import running

pytestmark = pytest.mark.integration

JOBS, ROUNDS, PARTICIPANTS = 60, 20, 3
BATCH, PREFETCH = 50, 2
DP = {"dp_noise_multiplier": 1.0, "dp_sample_rate": 0.05, "dp_steps": 10.0, "dp_delta": 1e-5}


def _job(job_id: str) -> list[JobEvent]:
    people = [f"h{i}" for i in range(PARTICIPANTS)]
    events: list[JobEvent] = [
        JobCreated(job_id=job_id, task="digits-cnn", strategy="FedAvg", rounds=ROUNDS - 1),
        JobStarted(job_id=job_id, participants=people),
    ]
    events += [
        RoundCompleted(
            job_id=job_id,
            round=r,
            metrics={"accuracy": r / ROUNDS},
            duration_s=0.1,
            bytes_sent=100,
            bytes_received=100,
            participants=people,
            participant_metrics={p: {"loss": 1 / (r + 1), **DP} for p in people},
        )
        for r in range(ROUNDS)
    ]
    events.append(JobFinished(job_id=job_id, rounds=ROUNDS - 1, duration_s=2.0))
    return events


def _interleaved(jobs: list[list[JobEvent]]) -> list[JobEvent]:
    """Jobs running side by side: their events interleaved, each job's in order."""
    out: list[JobEvent] = []
    for step in range(max(len(j) for j in jobs)):
        out += [j[step] for j in jobs if step < len(j)]
    return out


def _publish_in_background(nats_url: str, events: list[JobEvent]) -> threading.Thread:
    async def publish() -> None:
        nc = await nats.connect(nats_url)
        publisher = EventPublisher(nc)
        await publisher.ensure_stream()
        for event in events:
            await publisher.publish(event)
        await nc.close()

    thread = threading.Thread(target=lambda: asyncio.run(publish()), daemon=True)
    thread.start()
    return thread


async def _scalar(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql) or 0)
    finally:
        await conn.close()


async def _rows(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _wait(dsn: str, sql: str, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while (value := asyncio.run(_scalar(dsn, sql))) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql!r}: {value} after {timeout} s, expected {at_least}")
        time.sleep(0.05)
    return value


def test_kill_9_mid_ingest_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, postgres_url: str, nats_server
) -> None:
    tag = uuid.uuid4().hex[:8]
    events = _interleaved([_job(f"{tag}-{i}") for i in range(JOBS)])
    published = {e.id for e in events}
    settings = {
        "durable": f"crash-{tag}",
        "batch_size": str(BATCH),
        "prefetch_batches": str(PREFETCH),
        "fetch_wait_s": "0.1",
    }
    ours = f"FROM metrics_events WHERE job_id LIKE '{tag}-%'"
    with private_database(postgres_url) as database_url:
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        first = MetricsService(
            tmp_path / "metrics-1.log",
            database_url=database_url,
            nats_url=nats_server.url,
            **settings,
        )
        with running(first):
            first.wait_ready()
            publisher = _publish_in_background(nats_server.url, events)
            _wait(dsn, f"SELECT count(*) {ours}", len(events) // 5)
            first.kill()
        stored_at_kill = asyncio.run(_scalar(dsn, f"SELECT count(*) {ours}"))
        top_seq_at_kill = asyncio.run(_scalar(dsn, f"SELECT max(stream_seq) {ours}"))
        assert 0 < stored_at_kill < len(events), "the kill must land in the middle of the stream"

        second = MetricsService(
            tmp_path / "metrics-2.log",
            database_url=database_url,
            nats_url=nats_server.url,
            **settings,
        )
        with running(second):
            second.wait_ready()
            publisher.join(60)
            assert not publisher.is_alive()
            # republished events (another Nats-Msg-Id, so JetStream keeps them): skipped by id
            again = events[:: len(events) // 10]
            asyncio.run(_republish(nats_server.url, again))
            _wait(dsn, f"SELECT count(*) {ours}", len(events))
            _wait(dsn, "SELECT duplicates_skipped FROM metrics_ingest", len(again))
            metrics_text = second.http.get("/metrics").text
            ingest = second.http.get("/api/v1/ingest").json()
        log = second.output()

        counts = asyncio.run(_rows(dsn, f"SELECT event_id, count(*) AS n {ours} GROUP BY 1"))
        assert {r["event_id"] for r in counts} == published
        assert all(r["n"] == 1 for r in counts)
        jobs = asyncio.run(
            _rows(
                dsn,
                "SELECT status, last_round, count(*) AS n FROM metrics_jobs "
                f"WHERE job_id LIKE '{tag}-%' GROUP BY 1, 2",
            )
        )
        assert [tuple(r) for r in jobs] == [("completed", ROUNDS - 1, JOBS)]
        rounds = asyncio.run(
            _scalar(dsn, f"SELECT count(*) FROM metrics_rounds WHERE job_id LIKE '{tag}-%'")
        )
        people = asyncio.run(
            _scalar(
                dsn,
                "SELECT count(*) FROM metrics_participant_rounds "
                f"WHERE job_id LIKE '{tag}-%' AND dp_steps = 10",
            )
        )
        assert (rounds, people) == (JOBS * ROUNDS, JOBS * ROUNDS * PARTICIPANTS)

    # the second process resumed the durable consumer after what the first acknowledged (at or
    # before the first event it had not stored), not from the start of the stream
    resumed = [int(s) for s in re.findall(r"from stream sequence (\d+)", log)]
    assert resumed and 1 < resumed[0] <= top_seq_at_kill + 1, log[-2000:]
    assert ingest["events_stored"] >= len(events) and ingest["duplicates_skipped"] >= len(again)
    assert 'consortium_metrics_events_ingested_total{type="round_completed"}' in metrics_text
    assert "consortium_metrics_batch_ingest_duration_seconds_count" in metrics_text


async def _republish(nats_url: str, events: list[JobEvent]) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for event in events:
        subject = subjects.job_event(event.job_id, event.type)
        headers = {"Nats-Msg-Id": f"{event.id}-republished"}
        await js.publish(subject, event.model_dump_json().encode(), headers=headers)
    await nc.close()
