"""The ``nats`` authorization sink built from the registry's settings."""

from __future__ import annotations

from ..settings import RegistrySettings
from .config import NatsServerConfig
from .reloader import NatsAuthorizationFile

__all__ = ["nats_sink"]


def nats_sink(settings: RegistrySettings) -> NatsAuthorizationFile:
    """Writes ``settings.nats.config_file`` and reloads the server named by its pid file."""
    nats = settings.nats
    server = NatsServerConfig(
        host=nats.host,
        port=nats.port,
        store_dir=str(nats.store_dir.resolve()),
        server_cert=str(nats.server_cert.resolve()),
        server_key=str(nats.server_key.resolve()),
        ca_cert=str((settings.pki_dir / "ca.crt").resolve()),
        max_payload=nats.max_payload,
    )
    return NatsAuthorizationFile(
        server=server, config_path=nats.config_file, pid_file=nats.pid_file
    )
