"""Coordinator configuration: the only place that reads the environment.

Every setting has a default that works on one machine; override with environment variables
prefixed ``CONSORTIUM_COORDINATOR_`` (for example ``CONSORTIUM_COORDINATOR_PORT=8700``).
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CoordinatorSettings", "get_settings"]


class CoordinatorSettings(BaseSettings):
    """Settings of the coordinator service."""

    model_config = SettingsConfigDict(
        env_prefix="CONSORTIUM_COORDINATOR_", env_nested_delimiter="__"
    )

    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/consortium",
        description="SQLAlchemy async URL of the coordinator's Postgres database",
    )
    nats_url: str = "nats://127.0.0.1:4222"
    nats_ca_file: str | None = Field(None, description="CA that signed the NATS server (tls://)")
    nats_cert_file: str | None = Field(None, description="the coordinator's client certificate")
    nats_key_file: str | None = Field(None, description="the key of that certificate")
    host: str = "127.0.0.1"
    port: int = 8700
    presence_timeout_s: float = Field(5.0, description="a participant silent this long is offline")
    participant_wait_s: float = Field(
        60.0, description="how long a job waits for its minimum number of participants"
    )
    round_timeout_s: float = Field(600.0, description="longest wait for replies in one phase")
    database_outage_s: float = Field(
        300.0,
        gt=0,
        description="how long a running job waits for Postgres to come back before it fails",
    )
    checkpoint_bucket: str = "consortium-checkpoints"
    update_bucket: str = Field(
        "consortium-updates",
        description="participants' trained models of jobs that score contributions",
    )
    update_retention_s: float = Field(
        7 * 86400.0, gt=0, description="how long participants' updates are kept (bucket ttl)"
    )
    jetstream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="replicas of the JetStream streams and buckets this service creates (1 on a"
        " single NATS server; up to the cluster's size); an existing stream's are never lowered",
    )
    run_migrations: bool = Field(True, description="apply Alembic migrations at start-up")

    def nats_tls(self) -> ssl.SSLContext | None:
        """TLS context for NATS when a CA is configured (mutual TLS when a cert is too)."""
        if not self.nats_ca_file:
            return None
        context = ssl.create_default_context(cafile=self.nats_ca_file)
        if self.nats_cert_file and self.nats_key_file:
            context.load_cert_chain(self.nats_cert_file, self.nats_key_file)
        return context


@lru_cache
def get_settings() -> CoordinatorSettings:
    """The settings, read once."""
    return CoordinatorSettings()
