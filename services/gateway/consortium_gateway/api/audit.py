"""``/api/v1/audit``: the registry's hash-chained audit log, read and verified."""

from __future__ import annotations

from typing import Annotated

from consortium_registry.schemas import AuditEntryPublic, AuditVerification
from consortium_service.problems import problems
from fastapi import APIRouter, Query, Response

from .deps import ServicesDep, Viewer

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryPublic], responses=problems(401))
async def read_audit(
    services: ServicesDep,
    operator: Viewer,
    after_seq: Annotated[int, Query(ge=0, le=2**62, description="entries after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    job_id: Annotated[
        str | None, Query(max_length=64, description="only entries about this job")
    ] = None,
) -> Response:
    """Entries in order, ``limit`` at a time; page with the last ``seq`` seen."""
    params: dict[str, str | int] = {"after_seq": after_seq, "limit": limit}
    if job_id is not None:
        params["job_id"] = job_id
    return await services.registry.relay(
        "GET", "/api/v1/audit", params=params, bearer=operator.token
    )


@router.get("/verify", response_model=AuditVerification, responses=problems(401))
async def verify_audit(services: ServicesDep, operator: Viewer) -> Response:
    """Recompute every hash and link; ``first_broken_seq`` names the first entry that fails."""
    return await services.registry.relay("GET", "/api/v1/audit/verify", bearer=operator.token)


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}}, **problems(401)},
)
async def export_audit(services: ServicesDep, operator: Viewer) -> Response:
    """The whole log as JSON lines, verifiable offline with ``consortium_core.audit``."""
    return await services.registry.relay("GET", "/api/v1/audit/export", bearer=operator.token)
