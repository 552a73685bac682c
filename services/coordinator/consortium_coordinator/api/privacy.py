"""``/api/v1/jobs/{id}/privacy-report``: the job's privacy report, as JSON or as a page."""

from __future__ import annotations

from consortium_core.privacy.report import PrivacyReport
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..reports.privacy import load_privacy_report, render_privacy_page
from .deps import SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["privacy"])


@router.get("/{job_id}/privacy-report", response_model=PrivacyReport)
async def privacy_report(job_id: str, session: SessionDep) -> PrivacyReport:
    """Mechanism, accountant, each participant's DP inputs and epsilon, the budget, refusals,
    SecAgg+, and the measured membership-inference risk."""
    return await load_privacy_report(session, job_id)


@router.get("/{job_id}/privacy-report.html", response_class=HTMLResponse)
async def privacy_report_page(job_id: str, session: SessionDep) -> HTMLResponse:
    """The same report as a readable page."""
    return HTMLResponse(render_privacy_page(await load_privacy_report(session, job_id)))
