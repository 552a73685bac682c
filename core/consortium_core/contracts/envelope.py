"""What travels beside a Flower message in a frame: which job and task it belongs to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Envelope"]


class Envelope(BaseModel):
    """Routing information for one message; the Flower message itself is in the frame."""

    v: int = 1
    job_id: str
    task: str = Field(description="client-side task the job needs: a built-in name or module:attr")
    run_config: dict[str, Any] = Field(default_factory=dict)
