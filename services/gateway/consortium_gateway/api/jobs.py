"""``/api/v1/jobs``: create and stop jobs (coordinator), read jobs and rounds (read model)."""

from __future__ import annotations

from typing import Annotated

from consortium_coordinator.jobs.schemas import JobCreate, JobPublic, RoundPublic
from consortium_core.contracts.personalization import PersonalizationReport
from consortium_core.privacy.report import PrivacyReport
from consortium_service.problems import problems
from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import HTMLResponse

from .deps import JobOperator, ServicesDep, Viewer

__all__ = ["JobId", "router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a job's id")]
JOB_STATUSES = ("pending", "running", "completed", "failed", "stopped")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    responses=problems(401, 403, 422, 502, 503),
)
async def create_job(body: JobCreate, services: ServicesDep, operator: JobOperator) -> Response:
    """Create a job (job operator or admin); it starts when enough participants are online."""
    return await services.coordinator.relay(
        "POST", "/api/v1/jobs", json=body.model_dump(mode="json")
    )


@router.get("", response_model=list[JobPublic], responses=problems(401, 422))
async def list_jobs(
    services: ServicesDep,
    operator: Viewer,
    job_status: Annotated[
        str | None, Query(alias="status", pattern="^(pending|running|completed|failed|stopped)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[JobPublic]:
    """Jobs, newest first."""
    return await services.jobs.list(status=job_status, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobPublic, responses=problems(401, 404, 422))
async def get_job(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """One job."""
    return Response(await services.jobs.job_json(job_id), media_type="application/json")


@router.post("/{job_id}/stop", response_model=JobPublic, responses=problems(401, 403, 404, 409))
async def stop_job(job_id: JobId, services: ServicesDep, operator: JobOperator) -> Response:
    """Stop a pending or running job (409 if it already ended)."""
    return await services.coordinator.relay("POST", f"/api/v1/jobs/{job_id}/stop")


@router.get("/{job_id}/rounds", response_model=list[RoundPublic], responses=problems(401, 404))
async def list_rounds(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """The job's rounds; round 0 is the initial model's evaluation."""
    return Response(await services.jobs.rounds_json(job_id), media_type="application/json")


@router.get("/{job_id}/privacy-report", response_model=PrivacyReport, responses=problems(401, 404))
async def privacy_report(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """The job's privacy report: who spent which epsilon at which delta, and how it was kept."""
    return await services.coordinator.relay("GET", f"/api/v1/jobs/{job_id}/privacy-report")


@router.get(
    "/{job_id}/privacy-report.html",
    response_class=HTMLResponse,
    responses=problems(401, 404),
)
async def privacy_report_html(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """The privacy report as a page to print or archive."""
    return await services.coordinator.relay("GET", f"/api/v1/jobs/{job_id}/privacy-report.html")


@router.get(
    "/{job_id}/personalization",
    response_model=PersonalizationReport,
    responses=problems(401, 404),
)
async def personalization_report(
    job_id: JobId, services: ServicesDep, operator: Viewer
) -> Response:
    """What fine-tuning the final model on its own data gave each participant: the global and
    the personalized model's accuracy on its held-out slice (jobs with personalize-epochs)."""
    return await services.coordinator.relay("GET", f"/api/v1/jobs/{job_id}/personalization")


@router.get(
    "/{job_id}/model",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **problems(401, 404, 409),
    },
)
async def get_model(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """The latest global model as safetensors (the final one once the job completed)."""
    return await services.coordinator.relay("GET", f"/api/v1/jobs/{job_id}/model")
