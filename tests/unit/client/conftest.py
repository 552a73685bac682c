"""Fixtures for the client's identity tests: a throwaway CA and a tiny HTTPS registry.

The registry here is a stand-in for ``services/registry`` (it is not running in unit tests):
``http.server`` in a thread, behind TLS with a server certificate from the throwaway CA, bound to
127.0.0.1 on a free port, implementing the three endpoints the client uses
(``GET /api/v1/ca.pem``, ``POST /api/v1/enroll``, ``POST /api/v1/certificates/renew``) plus
``GET /api/v1/whoami``, which echoes the client certificate a connection presented.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from consortium_client.identity import write_identity
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class ThrowawayCA:
    """An EC P-256 CA that signs CSRs and public keys, like the registry's internal CA."""

    def __init__(self, name: str = "Consortium Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return _pem(self.cert)

    def issue(
        self,
        public_key: Any,
        common_name: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        lifetime: timedelta = timedelta(hours=1),
        server_names: tuple[str, ...] = (),
    ) -> x509.Certificate:
        start = not_before or datetime.now(UTC) - timedelta(seconds=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(not_after or start + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_names:
            alt: list[x509.GeneralName] = []
            for name in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    alt.append(x509.DNSName(name))
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alt), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
            )
        return builder.sign(self.key, hashes.SHA256())

    def enrolled_home(
        self,
        home: Path,
        participant_id: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        gateway_url: str = "https://gateway.invalid",
    ) -> Path:
        """A home as ``enroll`` leaves it, with a certificate of the given validity."""
        from consortium_client.identity import generate_key

        key = generate_key(home)
        cert = self.issue(
            key.public_key(), participant_id, not_before=not_before, not_after=not_after
        )
        write_identity(
            home,
            participant_id=participant_id,
            gateway_url=gateway_url,
            certificate_pem=_pem(cert),
            ca_pem=self.pem,
        )
        return home


@dataclass
class RegistryState:
    """What the fake registry knows and what it saw."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> participant id
    used: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    lifetime: timedelta = timedelta(hours=1)
    wrong_key: bool = False  # misbehave: certify another key than the CSR's
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, path, body


class FakeRegistry:
    """The registry's three enrollment endpoints over HTTPS on 127.0.0.1."""

    def __init__(self, ca: ThrowawayCA, workdir: Path, *, server_ca: ThrowawayCA | None = None):
        self.ca = ca
        self.state = RegistryState()
        # The server certificate normally comes from the same CA; server_ca lets a test play
        # an impostor gateway.
        signer = server_ca or ca
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = signer.issue(
            server_key.public_key(), "gateway", server_names=("127.0.0.1", "localhost")
        )
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "server.pem").write_text(_pem(server_cert))
        (workdir / "server.key").write_bytes(_key_pem(server_key))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(workdir / "server.pem", workdir / "server.key")
        ctx.load_verify_locations(cadata=ca.pem)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # /enroll has no client certificate yet
        handler = _handler_for(self)
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeRegistry:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_token(self, token: str, participant_id: str) -> str:
        self.state.tokens[token] = participant_id
        return token

    def paths_requested(self) -> list[str]:
        return [f"{method} {path}" for method, path, _body in self.state.requests]

    def sign(self, csr_pem: str, participant_id: str) -> x509.Certificate:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        public_key = (
            ec.generate_private_key(ec.SECP256R1()).public_key()
            if self.state.wrong_key
            else csr.public_key()
        )
        return self.ca.issue(public_key, participant_id, lifetime=self.state.lifetime)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed handshakes (a client refusing our certificate) are expected in these tests."""


def _handler_for(registry: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any] | str, ctype: str) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _problem(self, status: int, title: str, detail: str) -> None:
            body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
            self._send(status, body, "application/problem+json")

        def _peer(self) -> x509.Certificate | None:
            der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            return x509.load_der_x509_certificate(der) if der else None

        def do_GET(self) -> None:
            registry.state.requests.append(("GET", self.path, b""))
            if self.path == "/api/v1/ca.pem":
                self._send(200, registry.ca.pem, "application/x-pem-file")
            elif self.path == "/api/v1/whoami":
                peer = self._peer()
                self._send(
                    200,
                    {
                        "cn": peer.subject.rfc4514_string() if peer else None,
                        "serial": str(peer.serial_number) if peer else None,
                    },
                    "application/json",
                )
            else:
                self._problem(404, "Not Found", f"no route {self.path}")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            registry.state.requests.append(("POST", self.path, body))
            payload = json.loads(body or b"{}")
            state = registry.state
            if self.path == "/api/v1/enroll":
                token = payload.get("token", "")
                if token not in state.tokens:
                    self._problem(401, "Unauthorized", "unknown enrollment token")
                elif token in state.used:
                    self._problem(410, "Gone", "this enrollment token was already used")
                else:
                    state.used.add(token)
                    participant = state.tokens[token]
                    cert = registry.sign(payload["csr_pem"], participant)
                    self._send(
                        201,
                        {
                            "participant_id": participant,
                            "certificate_pem": _pem(cert),
                            "ca_pem": registry.ca.pem,
                            "not_after": cert.not_valid_after_utc.isoformat(),
                        },
                        "application/json",
                    )
            elif self.path == "/api/v1/certificates/renew":
                peer = self._peer()
                if peer is None:
                    self._problem(401, "Unauthorized", "a client certificate is required")
                    return
                participant = str(peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
                if participant in state.revoked:
                    self._problem(403, "Forbidden", f"participant {participant} is revoked")
                    return
                cert = registry.sign(payload["csr_pem"], participant)
                self._send(
                    200,
                    {
                        "certificate_pem": _pem(cert),
                        "not_after": cert.not_valid_after_utc.isoformat(),
                    },
                    "application/json",
                )
            else:
                self._problem(404, "Not Found", f"no route {self.path}")

    return Handler


@pytest.fixture(scope="session")
def ca() -> ThrowawayCA:
    return ThrowawayCA()


@pytest.fixture
def ca_file(ca: ThrowawayCA, tmp_path: Path) -> Path:
    path = tmp_path / "operator-ca.pem"
    path.write_text(ca.pem)
    return path


@pytest.fixture
def registry(ca: ThrowawayCA, tmp_path: Path) -> Iterator[FakeRegistry]:
    server = FakeRegistry(ca, tmp_path / "registry").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def other_ca() -> ThrowawayCA:
    """A second, unrelated CA: certificates from it must never be trusted."""
    return ThrowawayCA("Impostor CA")


@pytest.fixture
def impostor_registry(
    ca: ThrowawayCA, other_ca: ThrowawayCA, tmp_path: Path
) -> Iterator[FakeRegistry]:
    """A gateway whose server certificate comes from another CA (but serves the real CA file)."""
    server = FakeRegistry(ca, tmp_path / "impostor", server_ca=other_ca).start()
    try:
        yield server
    finally:
        server.close()
