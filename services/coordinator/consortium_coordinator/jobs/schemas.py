"""The job API's schema family: ``JobCreate`` in, ``JobPublic`` and ``RoundPublic`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consortium_core.contracts.storable import StorableModel
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobCreate", "JobPublic", "ParticipantPublic", "RoundPublic"]

ConfigValue = bool | int | float | str


class JobCreate(StorableModel):
    """A request to run a federated job."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    task: str = Field(description="a built-in task (digits-cnn, ...) or a ServerApp as module:attr")
    client_task: str | None = Field(
        None,
        description="the participants' task when `task` is a ServerApp import path: "
        "a built-in task name or a ClientApp as module:attr",
    )
    strategy: str = Field("FedAvg", description="a Flower strategy name (FedAvg, FedProx, ...)")
    rounds: int = Field(3, ge=1, le=10_000)
    min_participants: int = Field(2, ge=1, le=100_000)
    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="run config passed to the apps (local-epochs, ...)"
    )


class JobPublic(BaseModel):
    """A job as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    task: str
    client_task: str
    strategy: str
    rounds: int
    min_participants: int
    run_config: dict[str, Any]
    status: str
    reason: str
    current_round: int
    participants: list[str]
    metrics: dict[str, float]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RoundPublic(BaseModel):
    """One round of a job."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    metrics: dict[str, float]
    duration_s: float
    bytes_sent: int
    bytes_received: int
    participants: list[str]
    failures: dict[str, str]
    participant_metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="what each participant reported with its update (train loss, dp_* spend)",
    )
    checkpoint: str | None
    checkpoint_sha256: str | None


class ParticipantPublic(BaseModel):
    """A participant as presence sees it."""

    participant_id: str
    node_id: int
    tasks: list[str]
    online: bool
    seconds_since_seen: float
