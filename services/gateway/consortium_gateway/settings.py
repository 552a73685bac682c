"""Gateway configuration: the only place that reads the environment.

Every setting has a default that works on one machine; override with environment variables
prefixed ``CONSORTIUM_GATEWAY_`` (for example ``CONSORTIUM_GATEWAY_PORT=8443``).
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings", "get_settings"]


class GatewaySettings(BaseSettings):
    """Settings of the gateway service."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIUM_GATEWAY_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert_file: Path | None = Field(
        None, description="the gateway's HTTPS certificate; unset: plain HTTP (tests, dev only)"
    )
    tls_key_file: Path | None = None
    ca_file: Path | None = Field(
        None, description="CA that signed the registry's and NATS's certificates (var/pki/ca.crt)"
    )
    coordinator_url: str = "http://127.0.0.1:8700"
    registry_url: str = "https://127.0.0.1:8701"
    contribution_url: str = "http://127.0.0.1:8703"
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/consortium",
        description="the metrics service's read model (the gateway only reads it)",
    )
    nats_url: str | None = Field(None, description="for live job events; unset: no /events")
    nats_cert_file: Path | None = Field(None, description="the gateway's NATS client certificate")
    nats_key_file: Path | None = None
    console_dir: Path = Field(Path("web/dist"), description="the built console, served at /")
    upstream_timeout_s: float = Field(30.0, gt=0, description="longest wait for a service")
    final_cache_entries: int = Field(
        4096, ge=0, description="ended jobs' and rounds' answers kept in memory (0: none)"
    )
    auth_cache_s: float = Field(
        5.0, ge=0, description="how long a verified operator token is trusted before asking again"
    )

    def nats_tls(self) -> ssl.SSLContext | None:
        """Client TLS for NATS when the URL is tls:// (mutual TLS when a cert is set)."""
        if not self.nats_url or not self.nats_url.startswith("tls://"):
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.nats_cert_file and self.nats_key_file:
            context.load_cert_chain(str(self.nats_cert_file), str(self.nats_key_file))
        return context

    def upstream_verify(self) -> ssl.SSLContext | bool:
        """How the gateway checks the services' HTTPS certificates."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))


@lru_cache
def get_settings() -> GatewaySettings:
    """The settings, read once."""
    return GatewaySettings()
