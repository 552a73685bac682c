"""Runs each job's Flower ServerApp on a worker thread over a :class:`NatsGrid`.

The runner owns the job's state machine after creation: it waits for the minimum number of
participants, marks the job running, checkpoints the global model and records every round,
publishes events, and leaves the job completed, failed (with a reason a person can act on) or
stopped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
from consortium_core.asynchronous import check_async_job
from consortium_core.contracts.audit import AuditRecord
from consortium_core.contracts.events import (
    JobCreated,
    JobFailed,
    JobFinished,
    JobStarted,
    JobStopped,
    RoundCompleted,
    round_event_id,
)
from consortium_core.privacy.job_budget import JobBudget
from consortium_core.resume import set_resume_point
from consortium_core.rounds import StopTraining
from consortium_tasks.registry import TASKS, load_app
from flwr.app import ArrayRecord, Context, RecordDict
from flwr.serverapp import ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..audit import AuditPublisher
from ..db.models import Job, JobStatus
from ..errors import JobStateError, JobStoppedError, NotEnoughParticipantsError, RoundFailedError
from ..events import EventPublisher, event_time
from ..jobs import store
from ..observability import CoordinatorMetrics
from .checkpoints import (
    CheckpointStore,
    UpdateStore,
    arrays_to_safetensors,
    safetensors_to_arrays,
)
from .grid import NatsGrid, RoundReport
from .hub import NatsHub

__all__ = ["JobRunner", "resume_refusal"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Active:
    stop: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None
    task_name: str = ""  # the job's client task, a metrics label
    interrupted: bool = False  # the service is shutting down: leave the job to resume


def _postgres_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says Postgres is unreachable (restarting), not that a write is wrong."""
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    for cause in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = str(getattr(cause, "sqlstate", "") or "")
        # class 08: connection exceptions; 57P01-57P03: shutting down, crashed, starting up
        if code.startswith("08") or code in {"57P01", "57P02", "57P03"}:
            return True
        if isinstance(cause, OSError | asyncpg.exceptions.ConnectionDoesNotExistError):
            return True
    return False


def resume_refusal(job: Job) -> str | None:
    """Why a job a previous coordinator left running cannot go on, or None if it can."""
    spec = TASKS.get(job.task)
    if spec is None or spec.server_app != job.server_app or spec.kind != "horizontal":
        return "only the built-in horizontal tasks' ServerApps can resume"
    if check_async_job(job.run_config) is not None:
        return "FedAsync/FedBuff jobs cannot resume (their updates in flight are gone)"
    return None


class JobRunner:
    """Starts, stops and supervises jobs; one asyncio task (and one thread) per running job."""

    def __init__(
        self,
        *,
        hub: NatsHub,
        sessions: async_sessionmaker[AsyncSession],
        events: EventPublisher,
        checkpoints: CheckpointStore,
        audit: AuditPublisher,
        updates: UpdateStore | None = None,
        participant_wait_s: float,
        round_timeout_s: float,
        metrics: CoordinatorMetrics,
        database_outage_s: float = 300.0,
    ) -> None:
        self._database_outage_s = database_outage_s
        self._hub = hub
        self._sessions = sessions
        self._events = events
        self._checkpoints = checkpoints
        self._updates = updates
        self._audit = audit
        self._participant_wait_s = participant_wait_s
        self._round_timeout_s = round_timeout_s
        self._active: dict[str, _Active] = {}
        self._metrics = metrics

    async def publish(self, event: JobCreated) -> None:
        """Publish an event about a job (used by the API for ``job created``)."""
        await self._events.publish(event)

    async def audit(self, kind: str, actor: str, data: dict[str, object]) -> None:
        """Record a job action in the audit log."""
        await self._audit.publish(AuditRecord(kind=kind, actor=actor, data=data))

    def launch(self, job_id: str) -> None:
        """Start supervising a pending job in the background."""
        active = _Active()
        self._active[job_id] = active
        self._metrics.jobs_created.inc()
        active.task = asyncio.create_task(self._supervise(job_id, active), name=f"job-{job_id}")

    def resume(self, job_id: str) -> None:
        """Supervise a job a previous coordinator process left pending or running: a pending
        one starts as usual, a running one goes on from its last checkpointed round."""
        active = _Active()
        self._active[job_id] = active
        active.task = asyncio.create_task(
            self._supervise(job_id, active, resuming=True), name=f"job-{job_id}"
        )

    async def stop(self, job_id: str) -> Job:
        """Ask a pending or running job to stop; returns the job as it is now."""
        async with self._sessions() as session:
            job = await store.get_job(session, job_id)
            if job.status in JobStatus.FINAL:
                raise JobStateError(f"job {job_id} is already {job.status}")
        active = self._active.get(job_id)
        if active is None:  # not supervised by this process (left over): just mark it
            job = await self._finish(job_id, JobStatus.STOPPED, "stopped by operator")
            await self._events.publish(JobStopped(job_id=job_id, at=event_time(job.finished_at)))
            return job
        active.stop.set()
        if active.task is not None:
            await asyncio.wait({active.task}, timeout=self._round_timeout_s)
        async with self._sessions() as session:
            return await store.get_job(session, job_id)

    async def shutdown(self) -> None:
        """Stop every job this runner supervises (used when the service stops)."""
        for active in self._active.values():  # jobs stay running: the next process resumes them
            active.interrupted = True
            active.stop.set()
        tasks = [a.task for a in self._active.values() if a.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def wait(self, job_id: str) -> None:
        """Wait until the job's supervision ends (for tests and the demo)."""
        active = self._active.get(job_id)
        if active is not None and active.task is not None:
            await asyncio.wait({active.task})

    async def _supervise(self, job_id: str, active: _Active, resuming: bool = False) -> None:
        started = time.monotonic()
        try:
            async with self._sessions() as session:
                job = await store.get_job(session, job_id)
            resumes_running = resuming and job.status == JobStatus.RUNNING
            participants = await self._wait_for_participants(
                job,
                active.stop,
                # a resumed job goes on with its own participants only
                only=set(job.participants) if resumes_running else None,
                # a pending job waits until its own deadline, not a new one
                since=job.created_at if resuming and not resumes_running else None,
            )
            # before mark_running: were it to raise after, the job would end as running without
            # having been counted in jobs_running
            budget = JobBudget.from_run_config(job.run_config)
            resume_from = None
            if resumes_running:
                resume_from = await self._resume_point(job_id)
                after = resume_from[0] if resume_from is not None else None
                log.warning("job %s: resuming after round %s", job_id, after)
                await self._republish_last_round(job_id)
                await self.audit(
                    "job.resumed", "service:coordinator", {"job_id": job_id, "after_round": after}
                )
            else:
                async with self._sessions() as session:
                    await store.mark_running(session, job_id, participants)
                    job = await store.get_job(session, job_id)
            self._metrics.job_started(
                job_id,
                rounds_planned=job.run_config.get("num-server-rounds"),
                epsilon_budget=budget.epsilon if budget is not None else None,
            )
            active.task_name = job.client_task
            if not resumes_running:
                await self._events.publish(
                    JobStarted(
                        job_id=job_id, participants=participants, at=event_time(job.started_at)
                    )
                )
            grid = NatsGrid(
                hub=self._hub,
                job_id=job_id,
                task=job.client_task,
                run_config=job.run_config,
                min_participants=job.min_participants,
                stop_requested=active.stop,
                on_round_end=self._round_sink(job_id, asyncio.get_running_loop()),
                on_exchange=self._audit.exchange,
                participants=set(job.participants) if resumes_running else None,
            )
            state = RecordDict()
            if resume_from is not None:
                after, arrays, history = resume_from
                grid.resume_after(after, history)
                set_resume_point(state, after, arrays)
            self._hub.register(job_id, grid)
            try:
                await asyncio.to_thread(self._execute, job, grid, active.stop, state)
            finally:
                self._hub.unregister(job_id)
                if grid.audits:
                    async with self._sessions() as session:
                        await store.save_audits(session, job_id, grid.audits)
        except StopTraining as exc:
            await self._complete(job_id, started, reason=str(exc))
        except JobStoppedError:
            if active.interrupted:
                log.warning(
                    "job %s interrupted by shutdown; the next coordinator resumes it", job_id
                )
                return
            job = await self._finish(job_id, JobStatus.STOPPED, "stopped by operator")
            await self._events.publish(JobStopped(job_id=job_id, at=event_time(job.finished_at)))
        except (RoundFailedError, NotEnoughParticipantsError) as exc:
            await self._fail(job_id, str(exc))
        except Exception as exc:  # the ServerApp is user code: any failure fails the job
            log.exception("job %s failed", job_id)
            await self._fail(job_id, f"the ServerApp raised {type(exc).__name__}: {exc}")
        else:
            await self._complete(job_id, started)
        finally:
            self._active.pop(job_id, None)

    async def _complete(self, job_id: str, started: float, reason: str = "") -> None:
        job = await self._finish(job_id, JobStatus.COMPLETED, reason)
        await self._events.publish(
            JobFinished(
                job_id=job_id,
                rounds=job.current_round,
                metrics=job.metrics,
                duration_s=time.monotonic() - started,
                reason=reason,
                at=event_time(job.finished_at),
            )
        )
        log.info("job %s completed%s: %s", job_id, f" ({reason})" if reason else "", job.metrics)

    async def _wait_for_participants(
        self,
        job: Job,
        stop: threading.Event,
        *,
        only: set[str] | None = None,
        since: datetime | None = None,
    ) -> list[str]:
        wait_s = self._participant_wait_s
        if since is not None:  # the time already waited by a previous coordinator counts
            wait_s -= (datetime.now(UTC) - since.astimezone(UTC)).total_seconds()
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            online = [
                e.participant_id
                for e in self._hub.presence.online(task=job.client_task)
                if only is None or e.participant_id in only
            ]
            if len(online) >= job.min_participants:
                return online
            if stop.is_set():
                raise JobStoppedError(f"job {job.id} was stopped while waiting for participants")
            if time.monotonic() > deadline:
                raise NotEnoughParticipantsError(
                    f"only {len(online)} participant(s) running task {job.client_task!r} were "
                    f"online after {self._participant_wait_s:.0f} s "
                    f"({', '.join(online) or 'none'}); the job needs {job.min_participants}. "
                    "Start more participants with this task, or lower min_participants."
                )
            await asyncio.sleep(0.2)

    async def _republish_last_round(self, job_id: str) -> None:
        """Publish the last stored round's event again: a process killed between storing a
        round and publishing it would otherwise lose the event. Its id is the round's, so
        JetStream and every consumer keep it once."""
        async with self._sessions() as session:
            rounds = await store.list_rounds(session, job_id)
        if not rounds:
            return
        last = rounds[-1]
        await self._events.publish(
            RoundCompleted(
                id=round_event_id(job_id, last.number),
                job_id=job_id,
                round=last.number,
                metrics=dict(last.metrics),
                duration_s=last.duration_s,
                bytes_sent=last.bytes_sent,
                bytes_received=last.bytes_received,
                participants=list(last.participants),
                failures=dict(last.failures),
                participant_metrics=dict(last.participant_metrics),
                checkpoint=last.checkpoint,
                checkpoint_sha256=last.checkpoint_sha256,
            )
        )

    async def _resume_point(
        self, job_id: str
    ) -> tuple[int, ArrayRecord, list[dict[str, dict[str, float]]]] | None:
        """The last checkpointed round, its model and every stored round's reported spend."""
        async with self._sessions() as session:
            rounds = await store.list_rounds(session, job_id)
        saved = [r for r in rounds if r.checkpoint]
        if not saved:
            return None
        last = saved[-1]
        data = await self._checkpoints.load(last.checkpoint or "")
        arrays = await asyncio.to_thread(safetensors_to_arrays, data)
        history = [dict(r.participant_metrics) for r in rounds if 0 < r.number <= last.number]
        return last.number, arrays, history

    def _execute(self, job: Job, grid: NatsGrid, stop: threading.Event, state: RecordDict) -> None:
        """Run the ServerApp to its end (worker thread)."""
        TaskIdentity.run_id = job.run_id
        TaskIdentity.node_id = 0
        TaskIdentity.task_id = 0
        app = load_app(job.server_app)
        if not isinstance(app, ServerApp):
            raise TypeError(f"{job.server_app} is not a Flower ServerApp")
        grid.set_run(Run.create_empty(job.run_id))
        context = Context(
            run_id=job.run_id,
            node_id=0,
            node_config={},
            state=state,
            run_config=dict(job.run_config),
        )
        app(grid, context)
        if stop.is_set():
            raise JobStoppedError(f"job {job.id} was stopped")

    def _round_sink(self, job_id: str, loop: asyncio.AbstractEventLoop):
        def sink(report: RoundReport) -> None:
            future = asyncio.run_coroutine_threadsafe(self._record_round(job_id, report), loop)
            future.result()

        return sink

    async def _save_updates(self, job_id: str, report: RoundReport) -> dict[str, str]:
        """Each participant's trained model of the round, for the contribution service (only
        jobs that score contributions keep them; see ``ContributionSettings``)."""
        if self._updates is None or not report.updates:
            return {}
        saved = {}
        for participant, arrays in sorted(report.updates.items()):
            reported = report.participant_metrics.get(participant, {})
            metadata = {
                "job_id": job_id,
                "round": str(report.server_round),
                "participant": participant,
                "num-examples": str(int(reported.get("num-examples", 0))),
            }
            try:
                data = await asyncio.to_thread(arrays_to_safetensors, arrays, metadata)
                saved[participant] = await self._updates.save(
                    job_id, report.server_round, participant, data
                )
            except Exception:  # the round stands; only its contributions cannot be scored
                log.exception(
                    "job %s round %d: the update of %s was not stored",
                    job_id,
                    report.server_round,
                    participant,
                )
        return saved

    async def _record_round(self, job_id: str, report: RoundReport) -> None:
        data = await asyncio.to_thread(
            arrays_to_safetensors,
            report.arrays,
            {"job_id": job_id, "round": str(report.server_round)},
        )
        name, digest = await self._checkpoints.save(job_id, report.server_round, data)
        updates = await self._save_updates(job_id, report)
        active = self._active.get(job_id)
        self._metrics.round_recorded(
            job_id, server_round=report.server_round, metrics=report.metrics
        )
        if report.server_round > 0:
            self._metrics.round_completed(
                active.task_name if active else "",
                duration_s=report.duration_s,
                bytes_sent=report.bytes_sent,
                bytes_received=report.bytes_received,
                failures=report.failures,
            )
            self._metrics.privacy_spent(job_id, report.participant_metrics)
        values: dict[str, object] = {
            "number": report.server_round,
            "metrics": report.metrics,
            "duration_s": report.duration_s,
            "bytes_sent": report.bytes_sent,
            "bytes_received": report.bytes_received,
            "participants": report.participants,
            "failures": report.failures,
            "participant_metrics": report.participant_metrics,
            "checkpoint": name,
            "checkpoint_sha256": digest,
        }
        await self._while_postgres_is_back(
            f"storing round {report.server_round} of job {job_id}",
            lambda: self._add_round(job_id, values),
        )
        await self._events.publish(
            RoundCompleted(
                id=round_event_id(job_id, report.server_round),
                job_id=job_id,
                round=report.server_round,
                metrics=report.metrics,
                duration_s=report.duration_s,
                bytes_sent=report.bytes_sent,
                bytes_received=report.bytes_received,
                participants=report.participants,
                failures=report.failures,
                participant_metrics=report.participant_metrics,
                checkpoint=name,
                checkpoint_sha256=digest,
                updates=updates,
            )
        )
        log.info(
            "job %s round %d: %s (%.2f s, %d B out, %d B in)",
            job_id,
            report.server_round,
            report.metrics,
            report.duration_s,
            report.bytes_sent,
            report.bytes_received,
        )

    async def _add_round(self, job_id: str, values: dict[str, object]) -> None:
        async with self._sessions() as session:
            await store.add_round(session, job_id, values)

    async def _while_postgres_is_back(self, what: str, write: Callable[[], Awaitable[T]]) -> T:
        """``write()``, tried again while Postgres is unreachable (a restart, a failover), for
        up to ``database_outage_s``: the job waits instead of failing. Other errors raise."""
        deadline = time.monotonic() + self._database_outage_s
        delay = 0.5
        while True:
            try:
                return await write()
            except (DBAPIError, OSError) as exc:
                if not _postgres_gone(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "Postgres unreachable while %s (%s); retrying in %.1f s",
                    what,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _finish(self, job_id: str, status: str, reason: str = "") -> Job:
        return await self._while_postgres_is_back(
            f"marking job {job_id} {status}", lambda: self._finish_once(job_id, status, reason)
        )

    async def _finish_once(self, job_id: str, status: str, reason: str) -> Job:
        async with self._sessions() as session:
            before = (await store.get_job(session, job_id)).status
            job = await store.finish_job(session, job_id, status, reason)
        if before not in JobStatus.FINAL:
            self._metrics.job_ended(job_id, status, was_running=before == JobStatus.RUNNING)
        return job

    async def _fail(self, job_id: str, reason: str) -> None:
        log.warning("job %s failed: %s", job_id, reason)
        job = await self._finish(job_id, JobStatus.FAILED, reason)
        await self._events.publish(
            JobFailed(job_id=job_id, reason=reason, at=event_time(job.finished_at))
        )
