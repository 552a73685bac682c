"""Contribution service configuration: the only place that reads the environment.

Override with environment variables prefixed ``CONSORTIUM_CONTRIBUTION_``.

>>> s = ContributionServiceSettings()
>>> s.port, s.durable, s.update_bucket
(8703, 'contribution-rounds', 'consortium-updates')
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ContributionServiceSettings", "get_settings"]


class ContributionServiceSettings(BaseSettings):
    """Settings of the contribution service."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIUM_CONTRIBUTION_")

    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/consortium",
        description="SQLAlchemy async URL of the Postgres database",
    )
    nats_url: str = "nats://127.0.0.1:4222"
    nats_ca_file: str | None = Field(None, description="CA that signed the NATS server (tls://)")
    nats_cert_file: str | None = Field(None, description="the service's client certificate")
    nats_key_file: str | None = Field(None, description="the key of that certificate")
    host: str = "127.0.0.1"
    port: int = 8703
    durable: str = Field("contribution-rounds", description="durable JetStream consumer name")
    checkpoint_bucket: str = "consortium-checkpoints"
    update_bucket: str = "consortium-updates"
    ack_wait_s: float = Field(
        30.0,
        gt=0,
        description="a round whose scorer stopped answering this long (crashed) is redelivered",
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
def get_settings() -> ContributionServiceSettings:
    """The settings, read once."""
    return ContributionServiceSettings()
