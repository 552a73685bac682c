"""A round scored and stored whose ``contributions_scored`` event never reached the stream (NATS
went away between the two; the round was redelivered) is published on redelivery, once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from consortium_client.transport import connect
from consortium_contribution.consumer import RoundScorer
from consortium_contribution.db.bootstrap import ensure_database, migrate
from consortium_contribution.settings import ContributionServiceSettings
from consortium_contribution.store import ContributionStore
from consortium_core.contracts.events import RoundCompleted
from consortium_service.events_stream import ensure_events_stream
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from support.events import job_events

pytestmark = pytest.mark.integration


def test_a_redelivered_stored_round_publishes_its_event_once(database_url, nats_server) -> None:
    job_id = uuid.uuid4().hex
    settings = ContributionServiceSettings(database_url=database_url, nats_url=nats_server.url)

    async def scenario() -> None:
        await ensure_database(database_url)
        await asyncio.to_thread(migrate, database_url)
        engine = create_async_engine(database_url)
        store = ContributionStore(async_sessionmaker(engine, expire_on_commit=False))
        nc = await connect(nats_server.url, name="republish-test")
        await ensure_events_stream(nc.jetstream())
        try:
            await store.record_job(job_id, "digits-private", "gtg", "")
            await store.record_round(job_id, 1, "gtg", None, "stored before the crash")
            scorer = RoundScorer(nc, store, settings)
            event = RoundCompleted(
                job_id=job_id, round=1, duration_s=0.1, bytes_sent=1, bytes_received=1
            )
            for _ in range(2):  # delivered twice
                await scorer._round_completed(event)
        finally:
            await nc.close()
            await engine.dispose()

    asyncio.run(scenario())
    events = asyncio.run(job_events(nats_server.url, job_id, "contributions_scored"))
    assert [(e["round"], e["scored"], e["reason"]) for e in events] == [
        (1, False, "stored before the crash")
    ]
