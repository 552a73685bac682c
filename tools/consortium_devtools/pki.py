"""The platform's certificates on one machine, all signed by the registry's CA (``var/pki``).

``ca.crt``/``ca.key`` (the registry's CA), ``nats.crt``/``nats.key`` (the NATS server, for
127.0.0.1 and localhost) and ``services/<name>.crt|key`` (each service's client identity
``CN=service:<name>`` on NATS), ``gateway-server.crt|key`` (the gateway's HTTPS
certificate). Created once, reused afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consortium_core.services import SERVICES
from consortium_registry.ca import CertificateAuthority
from consortium_registry.files import write_private, write_public

__all__ = ["PlatformPki", "prepare_platform_pki"]

HOSTS = ["127.0.0.1", "localhost"]


@dataclass(frozen=True)
class PlatformPki:
    """Paths of the platform's TLS material."""

    directory: Path
    ca_cert: Path
    nats_cert: Path
    nats_key: Path

    @property
    def gateway_server(self) -> tuple[Path, Path]:
        """(certificate, key) the gateway serves HTTPS with."""
        return self.directory / "gateway-server.crt", self.directory / "gateway-server.key"

    def service(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) of service ``name``."""
        return (
            self.directory / "services" / f"{name}.crt",
            self.directory / "services" / f"{name}.key",
        )


def prepare_platform_pki(directory: Path) -> PlatformPki:
    """Create whatever is missing; never replaces an existing key."""
    ca = CertificateAuthority.load_or_create(directory)
    pki = PlatformPki(
        directory, directory / "ca.crt", directory / "nats.crt", directory / "nats.key"
    )
    if not pki.nats_cert.exists():
        key, cert = ca.issue_server_certificate(HOSTS)
        write_private(pki.nats_key, key)
        write_public(pki.nats_cert, cert)
    gateway_cert, gateway_key = pki.gateway_server
    if not gateway_cert.exists():
        key, cert = ca.issue_server_certificate(HOSTS)
        write_private(gateway_key, key)
        write_public(gateway_cert, cert)
    for name in SERVICES:
        cert_path, key_path = pki.service(name)
        if not cert_path.exists():
            cert_path.parent.mkdir(parents=True, exist_ok=True)
            key, cert = ca.issue_service_certificate(name)
            write_private(key_path, key)
            write_public(cert_path, cert)
    return pki
