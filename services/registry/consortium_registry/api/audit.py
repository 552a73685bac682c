"""``/api/v1/audit``: read, verify and export the hash-chained audit log (any operator)."""

from __future__ import annotations

from consortium_core.audit import canonical_time
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ..audit_log import export_audit_lines, list_audit, verify_audit_log
from ..schemas import AuditEntryPublic, AuditVerification
from .deps import AnyOperator, SessionDep
from .problems import problems

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryPublic], responses=problems(401))
async def read_audit(
    session: SessionDep,
    operator: AnyOperator,
    after_seq: int = Query(0, ge=0, description="entries after this sequence number"),
    limit: int = Query(100, ge=1, le=1000),
    job_id: str | None = Query(None, max_length=64, description="only entries about this job"),
) -> list[AuditEntryPublic]:
    """Entries in order, ``limit`` at a time; page with the last ``seq`` seen."""
    rows = await list_audit(session, after_seq=after_seq, limit=limit, job_id=job_id)
    return [
        AuditEntryPublic(
            seq=r.seq,
            at=canonical_time(r.at),
            kind=r.kind,
            actor=r.actor,
            data=r.data,
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in rows
    ]


@router.get("/verify", response_model=AuditVerification, responses=problems(401))
async def verify_audit(session: SessionDep, operator: AnyOperator) -> AuditVerification:
    """Recompute every hash and link; ``first_broken_seq`` names the first entry that fails."""
    result = await verify_audit_log(session)
    return AuditVerification(
        ok=result.ok,
        checked=result.checked,
        first_broken_seq=result.first_broken_seq,
        reason=result.reason,
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **problems(401)},
)
async def export_audit(request: Request, operator: AnyOperator) -> StreamingResponse:
    """The whole log as JSON lines, verifiable offline with ``consortium_core.audit``."""
    return StreamingResponse(
        export_audit_lines(request.app.state.sessions),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )
