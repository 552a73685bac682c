"""The gateway's JSON as typed dictionaries: what :class:`~consortium_cli.client.GatewayClient`
returns, passed through unchanged to ``--json`` output.

They mirror the gateway's OpenAPI document (``/api/v1/openapi.json``) without importing the
services' pydantic models, so the CLI installs with httpx alone. Fields the gateway adds later
pass through untouched.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "AuditEntry",
    "AuditVerification",
    "EnrollmentToken",
    "Job",
    "JobCreate",
    "Login",
    "Operator",
    "Participant",
    "ParticipantDetail",
    "Revocation",
    "Round",
]

ConfigValue = bool | int | float | str


class Login(TypedDict):
    """``POST /auth/login``."""

    access_token: str
    token_type: str
    expires_at: str
    username: str
    role: str


class Operator(TypedDict):
    """``GET /auth/me``, ``GET /operators``."""

    username: str
    role: str
    created_at: str


class JobCreate(TypedDict, total=False):
    """``POST /jobs`` body; only ``task`` is required."""

    name: str
    task: str
    client_task: str | None
    strategy: str
    rounds: int
    min_participants: int
    config: dict[str, ConfigValue]


class Job(TypedDict):
    """``GET /jobs/{id}``."""

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
    created_at: str
    started_at: str | None
    finished_at: str | None


class Round(TypedDict):
    """``GET /jobs/{id}/rounds``; round 0 is the initial model's evaluation."""

    number: int
    metrics: dict[str, float]
    duration_s: float
    bytes_sent: int
    bytes_received: int
    participants: list[str]
    failures: dict[str, str]
    participant_metrics: NotRequired[dict[str, dict[str, float]]]
    checkpoint: str | None
    checkpoint_sha256: str | None


class Participant(TypedDict):
    """``GET /participants``."""

    participant_id: str
    name: str
    organisation: str
    contact: str
    status: str
    created_at: str
    revoked_at: str | None
    revoke_reason: str | None
    last_seen_at: NotRequired[str | None]
    online: NotRequired[bool | None]


class Certificate(TypedDict):
    """One certificate in a participant's history."""

    serial: str
    not_before: str
    not_after: str
    issued_via: str
    revoked_at: str | None


class ParticipantDetail(Participant):
    """``GET /participants/{id}``."""

    certificates: list[Certificate]


class EnrollmentToken(TypedDict):
    """``POST /participants/{id}/enrollment-tokens``: shown once."""

    participant_id: str
    token: str
    expires_at: str


class Revocation(TypedDict):
    """``POST /participants/{id}/revoke``."""

    participant: Participant
    certificates_revoked: int
    authorization_applied: bool
    authorization_error: NotRequired[str | None]


class AuditEntry(TypedDict):
    """``GET /audit``."""

    seq: int
    at: str
    kind: str
    actor: str
    data: Any
    prev_hash: str
    hash: str


class AuditVerification(TypedDict):
    """``GET /audit/verify``."""

    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str
