"""Client SDK configuration: the only place in the SDK that reads the environment.

Environment variables are prefixed ``CONSORTIUM_CLIENT_`` (for example
``CONSORTIUM_CLIENT_NATS_URL``); command-line options override them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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

    # Identity (enrollment, mutual TLS, renewal)
    home: Path | None = Field(
        None, description="participant home with key.pem, cert.pem, ca.pem, identity.json"
    )
    identities_dir: Path = Field(
        default_factory=lambda: Path.home() / ".consortium",
        description="where participant homes live when no home is given: <dir>/<participant>",
    )
    gateway_url: str | None = Field(None, description="https://host[:port] of the gateway")
    enroll_token: SecretStr | None = Field(
        None, description="one-time enrollment token (safer here than on the command line)"
    )
    ca_cert: Path | None = Field(None, description="CA file handed out with the token")
    ca_fingerprint: str | None = Field(None, description="SHA-256 fingerprint of the CA")
    renew_fraction: float = Field(
        2 / 3, gt=0, lt=1, description="renew once this fraction of the lifetime is over"
    )
    tls_hostname_check: bool = Field(
        True, description="check that server certificates name the host in the URL"
    )

    # Privacy ledger (<home>/privacy/ledger.json): this participant's own limit, across jobs
    privacy_epsilon_limit: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="most epsilon this participant spends over all jobs; none: no limit "
        "(spending is still recorded)",
    )
    privacy_delta: float = Field(1e-5, gt=0, lt=1, description="delta the ledger composes at")
    privacy_accountant: str = Field("prv", description="accountant of the ledger: prv or rdp")
