"""Metrics service configuration: the only place that reads the environment.

Every setting has a default that works on one machine; override with environment variables
prefixed ``CONSORTIUM_METRICS_`` (for example ``CONSORTIUM_METRICS_PORT=8702``).

>>> settings = MetricsSettings(nats_url="nats://127.0.0.1:4222")
>>> settings.port, settings.durable, settings.nats_tls() is None
(8702, 'metrics-events', True)
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MetricsSettings", "get_settings"]


class MetricsSettings(BaseSettings):
    """Settings of the metrics service."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIUM_METRICS_", env_nested_delimiter="__")

    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/consortium",
        description="SQLAlchemy async URL of the Postgres database (shared with the gateway)",
    )
    nats_url: str = "nats://127.0.0.1:4222"
    nats_ca_file: str | None = Field(None, description="CA that signed the NATS server (tls://)")
    nats_cert_file: str | None = Field(None, description="the service's client certificate")
    nats_key_file: str | None = Field(None, description="the key of that certificate")
    host: str = "127.0.0.1"
    port: int = 8702
    durable: str = Field(
        "metrics-events", description="name of the durable JetStream consumer of every event"
    )
    batch_size: int = Field(1000, ge=1, le=10_000, description="events per fetch and transaction")
    fetch_wait_s: float = Field(
        0.5, gt=0, description="longest wait for a batch to fill before storing what came"
    )
    prefetch_batches: int = Field(
        2, ge=1, le=8, description="batches fetched and parsed ahead while one is being stored"
    )
    ack_wait_s: float = Field(
        60.0, gt=0, description="JetStream redelivers a batch not acknowledged within this"
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
def get_settings() -> MetricsSettings:
    """The settings, read once."""
    return MetricsSettings()
