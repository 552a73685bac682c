"""Audit records that services publish to the ``CONSORTIUM_AUDIT`` stream (version 1).

The registry consumes the stream and appends every record to its hash-chained audit log, so
the chain has one writer. A parameter exchange names the job, the round, the participant, the
direction, the SHA-256 of the exact frame bytes that travelled (chunk headers excluded) and
their size.

>>> r = AuditRecord(kind="parameter_exchange", actor="service:coordinator",
...                 data={"job_id": "j", "bytes": 10})
>>> AuditRecord.model_validate_json(r.model_dump_json()).data["bytes"]
10
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["AUDIT_STREAM", "AUDIT_WILDCARD", "AuditRecord", "Direction", "audit_subject"]

AUDIT_STREAM = "CONSORTIUM_AUDIT"
AUDIT_WILDCARD = "consortium.v1.audit.>"
Direction = Literal["to_participant", "from_participant"]


class AuditRecord(BaseModel):
    """One auditable event, before it is chained."""

    v: int = 1
    id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        max_length=64,
        description="unique per record: the stream and the chain keep a record sent twice once",
    )
    kind: str = Field(description="parameter_exchange, job_created, job_stopped, ...")
    actor: str = Field(description="who did it: service:<name>, operator:<user>, participant id")
    data: dict[str, Any] = Field(default_factory=dict)
    at: float = Field(default_factory=time.time)


def audit_subject(kind: str) -> str:
    """Subject an audit record of ``kind`` is published on."""
    return f"consortium.v1.audit.{kind}"
