"""``/api/v1/jobs/{id}/personalization``: what fine-tuning the final model gave each participant."""

from __future__ import annotations

from consortium_core.contracts.personalization import PersonalizationReport
from fastapi import APIRouter

from ..reports.personalization import load_personalization_report
from .deps import SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["personalization"])


@router.get("/{job_id}/personalization", response_model=PersonalizationReport)
async def personalization_report(job_id: str, session: SessionDep) -> PersonalizationReport:
    """Each participant's accuracy of the global and of its personalized model on its own
    held-out slice, and the gain; ``available`` is false, with the reason, when the job did not
    ask for personalization (``personalize-epochs``) or has not finished."""
    return await load_personalization_report(session, job_id)
