"""``/api/v1/jobs``: create, list, get, stop, rounds, final model."""

from __future__ import annotations

import asyncio

from consortium_core.contracts.events import JobCreated
from consortium_tasks.registry import TASKS
from fastapi import APIRouter, Query, Response, status

from ..db.models import JobStatus
from ..errors import JobStateError
from ..events import event_time
from ..jobs import store
from ..jobs.resolve import resolve_job
from ..jobs.schemas import JobCreate, JobPublic, RoundPublic
from .deps import CheckpointsDep, RunnerDep, SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobPublic)
async def create_job(request: JobCreate, session: SessionDep, runner: RunnerDep) -> JobPublic:
    """Create a job; it starts as soon as enough participants are online."""
    # resolving imports a ServerApp module (torch...): keep it off the event loop
    resolved = await asyncio.to_thread(resolve_job, request)
    job = await store.add_job(session, request, resolved)
    await runner.publish(
        JobCreated(
            job_id=job.id,
            task=job.task,
            strategy=job.strategy,
            rounds=job.rounds,
            config=job.run_config,
            name=job.name,
            client_task=job.client_task,
            min_participants=job.min_participants,
            at=event_time(job.created_at),
        )
    )
    await runner.audit(
        "job_created",
        "api",
        {"job_id": job.id, "task": job.task, "strategy": job.strategy, "rounds": job.rounds},
    )
    runner.launch(job.id)
    return JobPublic.model_validate(job)


@router.get("", response_model=list[JobPublic])
async def list_jobs(
    session: SessionDep,
    job_status: str | None = Query(None, alias="status", description=f"one of {JobStatus.ALL}"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[JobPublic]:
    """Jobs, newest first."""
    jobs = await store.list_jobs(session, status=job_status, limit=limit, offset=offset)
    return [JobPublic.model_validate(j) for j in jobs]


@router.get("/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, session: SessionDep) -> JobPublic:
    """One job."""
    return JobPublic.model_validate(await store.get_job(session, job_id))


@router.post("/{job_id}/stop", response_model=JobPublic)
async def stop_job(job_id: str, runner: RunnerDep) -> JobPublic:
    """Stop a pending or running job (409 if it already ended)."""
    job = await runner.stop(job_id)
    await runner.audit("job_stopped", "api", {"job_id": job_id, "status": job.status})
    return JobPublic.model_validate(job)


@router.get("/{job_id}/rounds", response_model=list[RoundPublic])
async def list_rounds(job_id: str, session: SessionDep) -> list[RoundPublic]:
    """The job's rounds; round 0 is the initial model's evaluation."""
    return [RoundPublic.model_validate(r) for r in await store.list_rounds(session, job_id)]


@router.get(
    "/{job_id}/model",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_model(job_id: str, session: SessionDep, checkpoints: CheckpointsDep) -> Response:
    """The latest global model of the job as safetensors (the final one once it completed)."""
    job = await store.get_job(session, job_id)
    if job.task in TASKS and TASKS[job.task].kind == "vertical":
        raise JobStateError(
            f"job {job_id} is a vertical job: the coordinator holds no model; each party keeps "
            "its own bottom model and the label holder the top model"
        )
    rounds = await store.list_rounds(session, job_id)
    saved = [r for r in rounds if r.checkpoint]
    if not saved:
        raise JobStateError(f"job {job_id} has no checkpoint yet (status {job.status})")
    last = saved[-1]
    filename = f"{job_id}-round-{last.number}.safetensors"
    data = await checkpoints.load(last.checkpoint or "")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Consortium-Task": job.task,
            "X-Consortium-Round": str(last.number),
            "X-Consortium-Job-Status": job.status,
            "X-Consortium-Metrics": ",".join(f"{k}={v:.6g}" for k, v in last.metrics.items()),
            "X-Consortium-Sha256": last.checkpoint_sha256 or "",
        },
    )
