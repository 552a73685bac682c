"""``/api/v1/jobs/{id}/contributions`` and the contribution ledger (the contribution service)."""

from __future__ import annotations

from consortium_contribution.schemas import JobContributions, LedgerEntry
from consortium_service.problems import problems
from fastapi import APIRouter, Response

from .deps import ServicesDep, Viewer
from .jobs import JobId

__all__ = ["router"]

router = APIRouter(tags=["contributions"])


@router.get(
    "/jobs/{job_id}/contributions",
    response_model=JobContributions,
    responses=problems(401, 404, 503),
)
async def job_contributions(job_id: JobId, services: ServicesDep, operator: Viewer) -> Response:
    """Each participant's value over the job and each round's values, or why the job has none
    (under secure aggregation the server never sees one participant's update)."""
    return await services.contribution.relay("GET", f"/api/v1/jobs/{job_id}/contributions")


@router.get("/contributions/ledger", response_model=list[LedgerEntry], responses=problems(401))
async def ledger(services: ServicesDep, operator: Viewer) -> Response:
    """Each participant across jobs: its total value, jobs and rounds scored."""
    return await services.contribution.relay("GET", "/api/v1/ledger")


@router.get(
    "/contributions/ledger.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problems(401)},
)
async def ledger_csv(services: ServicesDep, operator: Viewer) -> Response:
    """The ledger as CSV, for incentive schemes."""
    return await services.contribution.relay("GET", "/api/v1/ledger.csv")
