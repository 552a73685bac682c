"""Client SDK configuration: the only place in the SDK that reads the environment.

Environment variables are prefixed ``CONSORTIUM_CLIENT_`` (for example
``CONSORTIUM_CLIENT_NATS_URL``); command-line options override them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ClientSettings"]


class ClientSettings(BaseSettings):
    """Settings of a participant's client runtime."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIUM_CLIENT_")

    participant_id: str | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    coordinator_url: str = "http://127.0.0.1:8700"
    heartbeat_s: float = Field(1.0, gt=0)
    threads: int = Field(1, ge=1, description="torch threads; 1 is fastest on shared CPUs")
