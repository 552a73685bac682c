"""Registry configuration: the only place that reads the environment.

Every setting has a default that works on one machine; override with environment variables
prefixed ``CONSORTIUM_REGISTRY_`` (for example ``CONSORTIUM_REGISTRY_PORT=8701``). The registry
shares the coordinator's database and owns its own tables and Alembic version table.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "WEAK_SECRETS",
    "RegistryNatsSettings",
    "RegistrySettings",
    "get_settings",
]

log = logging.getLogger(__name__)

WEAK_SECRETS = frozenset({"", "changethis", "changeme", "secret", "password", "admin", "dev"})
"""Values that must never protect anything outside ``environment="dev"``."""


class RegistryNatsSettings(BaseModel):
    """NATS as the registry sees it: its own connection, and the server config it writes."""

    url: str | None = Field(
        None, description="tls://host:port; unset: no audit consumer (the sink may still write)"
    )
    cert_file: Path | None = Field(None, description="the registry's client certificate")
    key_file: Path | None = None
    config_file: Path = Field(Path("var/nats/nats.conf"), description="written by the 'nats' sink")
    pid_file: Path = Field(Path("var/run/nats-server.pid"), description="nats-server -P file")
    host: str = "127.0.0.1"
    port: int = 4223
    store_dir: Path = Path("var/nats/jetstream")
    server_cert: Path = Path("var/pki/nats.crt")
    server_key: Path = Path("var/pki/nats.key")
    max_payload: int = 1024 * 1024
    jetstream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="replicas of the JetStream streams and buckets the registry creates (1 on a"
        " single NATS server; up to the cluster's size); an existing stream's are never lowered",
    )


class RegistrySettings(BaseSettings):
    """Settings of the registry service."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIUM_REGISTRY_", env_nested_delimiter="__")

    environment: Literal["dev", "production"] = Field(
        "dev", description="outside dev, weak or default secrets are refused at start-up"
    )
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/consortium",
        description="SQLAlchemy async URL (the coordinator's database; tables of our own)",
    )
    run_migrations: bool = Field(True, description="apply Alembic migrations at start-up")
    host: str = "127.0.0.1"
    port: int = 8701
    tls: bool = Field(True, description="serve HTTPS with optional client certificates (mTLS)")
    server_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="DNS names and IP addresses in the registry's own server certificate",
    )
    pki_dir: Path = Field(Path("var/pki"), description="CA key and certificate, server cert")
    cert_lifetime_s: int = Field(
        86400, ge=60, description="participant certificates are short-lived and renewed"
    )
    token_ttl_s: int = Field(86400, ge=1, description="default lifetime of an enrollment token")
    session_ttl_s: int = Field(
        8 * 3600, ge=60, description="lifetime of an operator's bearer token"
    )
    session_secret: SecretStr | None = Field(
        None, description="HMAC key of operator tokens; generated under pki_dir when unset"
    )
    admin_username: str = Field("admin", min_length=1, max_length=100)
    admin_password: SecretStr | None = Field(
        None, description="first admin's password; generated at first start when unset"
    )
    admin_password_file: Path = Path("var/run/operator.password")
    metrics_refresh_s: float = Field(
        15.0, gt=0, description="how often /metrics re-reads participant and audit counts"
    )
    nats: RegistryNatsSettings = Field(default_factory=RegistryNatsSettings)
    authorization_sink: str = Field(
        "log",
        description="who learns the active participants: a registered name ('log') or "
        "'pkg.module:factory' taking these settings",
    )

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> RegistrySettings:
        for name in ("session_secret", "admin_password"):
            secret: SecretStr | None = getattr(self, name)
            if secret is None:
                continue  # generated at start-up
            value = secret.get_secret_value()
            weak = value.lower() in WEAK_SECRETS or (name == "session_secret" and len(value) < 32)
            if not weak:
                continue
            message = f"{name} is a default or too-short secret"
            if self.environment != "dev":
                raise ValueError(f"{message}; set a strong one (refused outside dev)")
            log.warning("%s; acceptable only in dev", message)
        return self


@lru_cache
def get_settings() -> RegistrySettings:
    """The settings, read once."""
    return RegistrySettings()
