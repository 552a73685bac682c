"""The registry's files under ``pki_dir``: CA, its own HTTPS certificate, the session secret.

Everything is created at first start and reused afterwards: ``ca.key`` (0600) / ``ca.crt``,
``registry.key`` (0600) / ``registry.crt`` (renewed when it nears expiry or its hosts change),
``session.secret`` (0600, the HMAC key of operator tokens when none is configured).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from .ca import CertificateAuthority
from .files import directory_lock, write_private, write_public
from .settings import RegistrySettings

__all__ = ["RegistryPki", "load_or_create_session_secret", "prepare_pki"]

RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class RegistryPki:
    """Paths and objects the registry serves with."""

    ca: CertificateAuthority
    ca_cert: Path
    server_cert: Path
    server_key: Path


def _hosts_of(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    return names | {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _wanted(hosts: list[str]) -> set[str]:
    out = set()
    for host in hosts:
        try:
            out.add(str(ipaddress.ip_address(host)))
        except ValueError:
            out.add(host)
    return out


def _server_cert_usable(path: Path, ca: CertificateAuthority, hosts: list[str]) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    fresh = cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE
    return fresh and ca.issued(cert) and _hosts_of(cert) == _wanted(hosts)


def prepare_pki(settings: RegistrySettings) -> RegistryPki:
    """Load or create the CA and the registry's server certificate (idempotent)."""
    directory = settings.pki_dir
    ca = CertificateAuthority.load_or_create(directory)
    server_cert, server_key = directory / "registry.crt", directory / "registry.key"
    with directory_lock(directory):
        if not (
            server_key.exists() and _server_cert_usable(server_cert, ca, settings.server_hosts)
        ):
            key_pem, cert_pem = ca.issue_server_certificate(settings.server_hosts)
            write_private(server_key, key_pem)
            write_public(server_cert, cert_pem)
    return RegistryPki(ca, directory / "ca.crt", server_cert, server_key)


def load_or_create_session_secret(settings: RegistrySettings) -> bytes:
    """The configured session secret, else the one stored under ``pki_dir`` (made once)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    path = settings.pki_dir / "session.secret"
    with directory_lock(settings.pki_dir):
        if not path.exists():
            write_private(path, secrets.token_urlsafe(48).encode())
        return path.read_bytes().strip()
