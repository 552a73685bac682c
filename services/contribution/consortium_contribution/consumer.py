"""The durable JetStream consumer that scores each round of each job.

Rounds are few (one per job every few seconds at most), so messages are handled one at a time
and acknowledged one by one after their result is committed (while one is scored, the consumer
tells JetStream it is in progress): a crash before the ack gets the message again after
``ack_wait_s``, and the store's keys make that second write a no-op. A
round whose records are unusable (missing, malformed) is stored as unscored with the reason and
acknowledged; a failure of Postgres or NATS is not acknowledged (negative ack with a delay), so
the round is scored once they are back.
"""

from __future__ import annotations

import asyncio
import logging

from consortium_core import subjects
from consortium_core.contracts.events import (
    ContributionsScored,
    JobCreated,
    RoundCompleted,
    parse_event,
)
from consortium_core.contracts.objects import checkpoint_object
from consortium_core.contribution import ContributionSettings
from consortium_core.errors import ConsortiumError
from consortium_service.durable_publish import publish_until_stored
from consortium_service.events_stream import ensure_events_stream
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BucketNotFoundError, ObjectNotFoundError
from pydantic import ValidationError

from .scoring import RoundScore, TaskEvaluator, score_round
from .settings import ContributionServiceSettings
from .store import ContributionStore

__all__ = ["RoundScorer"]

log = logging.getLogger(__name__)

RETRY_DELAY_S = 5.0


class RoundScorer:
    """Follows every job event; records jobs, scores rounds."""

    def __init__(
        self, nc: NatsClient, store: ContributionStore, settings: ContributionServiceSettings
    ) -> None:
        self._nc = nc
        self._store = store
        self._settings = settings
        self._evaluators: dict[str, TaskEvaluator] = {}
        self._task: asyncio.Task[None] | None = None
        self.rounds_scored = 0
        self.last_error = ""

    async def start(self) -> None:
        js = self._nc.jetstream()
        await ensure_events_stream(js, self._settings.jetstream_replicas)
        self._sub = await js.pull_subscribe(
            subjects.EVENTS_WILDCARD,
            durable=self._settings.durable,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._settings.ack_wait_s,
                max_ack_pending=64,
            ),
        )
        self._task = asyncio.create_task(self._run(), name="contribution-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            try:
                messages = await self._sub.fetch(8, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception as exc:  # NATS reconnecting: nats-py retries by itself
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for msg in messages:
                await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        try:
            event = parse_event(msg.data)
        except ValidationError as exc:
            log.warning("skipped an event that is not one: %s", exc.errors()[:1])
            await msg.ack()
            return
        working = asyncio.create_task(self._still_working(msg))
        try:
            if isinstance(event, JobCreated):
                await self._job_created(event)
            elif isinstance(event, RoundCompleted) and event.round > 0:
                await self._round_completed(event)
        except Exception as exc:  # Postgres or NATS: try again later
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s: event %s not handled yet", event.job_id, event.type)
            await msg.nak(delay=RETRY_DELAY_S)
            return
        finally:
            working.cancel()
        self.last_error = ""
        await msg.ack()

    async def _still_working(self, msg: Msg) -> None:
        """Tell JetStream the message is in hand every third of ``ack_wait_s``: a long round
        (a big model, many coalitions) is not redelivered meanwhile, and a short ``ack_wait_s``
        gets a round whose scorer died to another one soon."""
        while True:
            await asyncio.sleep(self._settings.ack_wait_s / 3)
            try:
                await msg.in_progress()
            except Exception as exc:  # NATS away: the redelivery is harmless (keyed writes)
                log.debug("in-progress not sent: %s", exc)

    async def _job_created(self, event: JobCreated) -> None:
        task = event.client_task or event.task
        try:
            settings = ContributionSettings.from_run_config(event.config)
        except ConsortiumError as exc:
            await self._store.record_job(event.job_id, task, None, str(exc))
            return
        if settings is None:
            reason = (
                "secure aggregation: the server never sees one participant's update, so "
                "per-participant contributions do not exist for this job"
                if event.config.get("secure-aggregation")
                else "the job asked for no contributions"
            )
            await self._store.record_job(event.job_id, task, None, reason)
        else:
            await self._store.record_job(event.job_id, task, settings.method, "")
            try:  # load the task's model and held-out set now, not in round 1's time
                await asyncio.to_thread(self._evaluator, task)
            except ConsortiumError as exc:
                log.warning("job %s: task %s cannot be scored: %s", event.job_id, task, exc)

    async def _round_completed(self, event: RoundCompleted) -> None:
        stored = await self._store.stored_round(event.job_id, event.round)
        if stored is not None:
            # a redelivery of a round already stored: its event may not have been published
            # (NATS went away between the two), so publish it again; its id keeps it once
            await self._publish_scored(
                event, stored.method, stored.scored, stored.values, stored.reason
            )
            return
        job = await self._store.job(event.job_id)
        if job is None:
            log.warning("job %s: round %d before its job_created", event.job_id, event.round)
            return
        if job.method is None:
            return
        if not event.updates:
            await self._record(event, job.method, None, "no updates were stored")
            return
        try:
            js = self._nc.jetstream()
            checkpoints = await self._bucket(js, self._settings.checkpoint_bucket)
            stored = await self._bucket(js, self._settings.update_bucket)
            start = await self._load(checkpoints, checkpoint_object(job.job_id, event.round - 1))
            updates = {p: await self._load(stored, n) for p, n in event.updates.items()}
            evaluator = self._evaluator(job.task)
            score = await asyncio.to_thread(
                score_round, evaluator, start, updates, method=job.method, seed=event.round
            )
        except ConsortiumError as exc:
            log.warning("job %s round %d not scored: %s", event.job_id, event.round, exc)
            await self._record(event, job.method, None, str(exc))
            return
        await self._record(event, job.method, score, "")
        self.rounds_scored += 1
        log.info(
            "job %s round %d: %s (%s, %d models, %.2f s)",
            event.job_id,
            event.round,
            {p: round(v, 4) for p, v in score.values.items()},
            job.method,
            score.result.evaluations,
            score.seconds,
        )

    async def _record(
        self, event: RoundCompleted, method: str, score: RoundScore | None, reason: str
    ) -> None:
        """Store the round, then publish it on the job's events (deduplicated by its id: a
        redelivered round publishes nothing twice)."""
        await self._store.record_round(event.job_id, event.round, method, score, reason)
        values = score.values if score is not None else {}
        await self._publish_scored(event, method, score is not None, values, reason)

    async def _publish_scored(
        self,
        event: RoundCompleted,
        method: str,
        scored: bool,
        values: dict[str, float],
        reason: str,
    ) -> None:
        """Publish the round's ``contributions_scored`` event under its fixed id, retrying
        while NATS is away; raises if it was not stored, so the round is redelivered."""
        message = ContributionsScored(
            id=f"contributions-{event.job_id}-{event.round}"[:64],
            job_id=event.job_id,
            round=event.round,
            method=method,
            scored=scored,
            values=values,
            reason=reason,
        )
        stored = await publish_until_stored(
            self._nc.jetstream(),
            subjects.job_event(event.job_id, message.type),
            message.model_dump_json().encode(),
            msg_id=message.id,
            what=f"event {message.type} of job {event.job_id} round {event.round}",
        )
        if not stored:
            raise ConsortiumError(f"round {event.round}'s {message.type} event not published")

    @staticmethod
    async def _bucket(js: object, name: str) -> object:
        try:
            return await js.object_store(name)  # type: ignore[attr-defined]
        except BucketNotFoundError as exc:
            raise ConsortiumError(f"object store {name} does not exist") from exc

    @staticmethod
    async def _load(store: object, name: str) -> bytes:
        try:
            result = await store.get(name)  # type: ignore[attr-defined]
        except ObjectNotFoundError as exc:
            raise ConsortiumError(f"{name} is not stored (expired or never saved)") from exc
        return result.data or b""

    def _evaluator(self, task: str) -> TaskEvaluator:
        if task not in self._evaluators:
            self._evaluators[task] = TaskEvaluator(task)
        return self._evaluators[task]
