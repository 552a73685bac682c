"""The registry service as a real process for integration tests, and client-side PKI helpers.

``running_registry`` starts ``consortium-registry`` on a free port with a database and a PKI
directory of its own; ``Registry.client(...)`` gives an httpx client that trusts the registry's
CA and, optionally, presents a client certificate (mutual TLS).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from consortium_devtools.infra import free_port
from consortium_registry.ca import CertificateAuthority
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from support.processes import BIN, Process

__all__ = [
    "FileSink",
    "Registry",
    "fresh_database",
    "make_csr",
    "running_registry",
]

ACTIVE_FILE = "active-participants.json"


def make_csr(common_name: str = "anything", *, key_type: str = "ec") -> tuple[bytes, str]:
    """(private key PEM, CSR PEM) made the way a participant's machine makes them."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


class FileSink:
    """An ``AuthorizationSink`` for tests: writes each applied list to ``<pki_dir>/ACTIVE_FILE``."""

    def __init__(self, settings: object) -> None:
        self.path = Path(settings.pki_dir) / ACTIVE_FILE  # type: ignore[attr-defined]

    async def apply(self, active_participants: list[str]) -> None:
        self.path.write_text(json.dumps(active_participants))


@contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A new empty database (SQLAlchemy asyncpg URL), dropped afterwards."""
    name = f"consortium_registry_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{postgres_url}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Registry(Process):
    """``consortium-registry`` on a free port, HTTPS with optional client certificates."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        tls: bool = True,
        pki_dir: Path | None = None,
        **settings: str,
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.base_url = f"{self.scheme}://127.0.0.1:{self.port}/api/v1"
        self.pki_dir = pki_dir or workdir / "pki"
        self.password_file = workdir / "run" / "operator.password"
        env = {
            "CONSORTIUM_REGISTRY_DATABASE_URL": database_url,
            "CONSORTIUM_REGISTRY_PORT": str(self.port),
            "CONSORTIUM_REGISTRY_TLS": "true" if tls else "false",
            "CONSORTIUM_REGISTRY_PKI_DIR": str(self.pki_dir),
            "CONSORTIUM_REGISTRY_ADMIN_PASSWORD_FILE": str(self.password_file),
            "CONSORTIUM_REGISTRY_AUTHORIZATION_SINK": "support.registry:FileSink",
            **{f"CONSORTIUM_REGISTRY_{k.upper()}": v for k, v in settings.items()},
        }
        super().__init__([str(BIN / "consortium-registry")], workdir / "registry.log", env)
        self._admin_token: str | None = None

    @property
    def ca_cert(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def dsn(self) -> str:
        """The registry database as a plain asyncpg DSN (tests read and tamper with it)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://")

    def ca(self) -> CertificateAuthority:
        """The registry's own CA, loaded from its files (tests sign odd certificates with it)."""
        return CertificateAuthority.load_or_create(self.pki_dir)

    def active_participants(self) -> list[str]:
        """The last list the registry gave its authorization sink."""
        return json.loads((self.pki_dir / ACTIVE_FILE).read_text())

    def client(
        self, *, cert_pem: bytes | str | None = None, key_pem: bytes | None = None, token: str = ""
    ) -> httpx.Client:
        """An httpx client trusting the registry's CA, presenting ``cert_pem`` if given."""
        verify: ssl.SSLContext | bool = False
        if self.scheme == "https":
            verify = ssl.create_default_context(cafile=str(self.ca_cert))
            if cert_pem is not None and key_pem is not None:
                name = uuid.uuid4().hex
                cert_file, key_file = self.workdir / f"{name}.crt", self.workdir / f"{name}.key"
                pem = cert_pem if isinstance(cert_pem, bytes) else cert_pem.encode()
                cert_file.write_bytes(pem)
                key_file.write_bytes(key_pem)
                verify.load_cert_chain(str(cert_file), str(key_file))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, verify=verify, headers=headers, timeout=30)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited:\n{self.output()[-3000:]}")
            if self.ca_cert.exists():
                try:
                    with self.client() as http:
                        if http.get("/health").status_code == 200:
                            return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"registry not healthy:\n{self.output()[-3000:]}")

    def login(self, username: str, password: str) -> str:
        with self.client() as http:
            response = http.post("/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def admin(self) -> httpx.Client:
        """A client logged in as the first admin (password from the file the registry wrote)."""
        if self._admin_token is None:
            password = self.password_file.read_text().strip()
            self._admin_token = self.login("admin", password)
        return self.client(token=self._admin_token)

    def operator(self, username: str, role: str) -> httpx.Client:
        """A client logged in as a new operator with ``role``."""
        password = f"pw-{uuid.uuid4().hex}"
        with self.admin() as admin:
            created = admin.post(
                "/operators", json={"username": username, "password": password, "role": role}
            )
            created.raise_for_status()
        return self.client(token=self.login(username, password))

    def new_participant(self, prefix: str = "p") -> str:
        """A fresh participant id, registered."""
        participant_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        with self.admin() as admin:
            admin.post("/participants", json={"participant_id": participant_id}).raise_for_status()
        return participant_id

    def token_for(self, participant_id: str, ttl_s: int | None = None) -> str:
        with self.admin() as admin:
            body = {"ttl_s": ttl_s} if ttl_s else {}
            response = admin.post(f"/participants/{participant_id}/enrollment-tokens", json=body)
            response.raise_for_status()
        return str(response.json()["token"])

    def enroll_new(self, prefix: str = "p") -> tuple[str, bytes, str]:
        """Register, token, enroll: (participant id, key PEM, certificate PEM)."""
        participant_id = self.new_participant(prefix)
        key_pem, csr_pem = make_csr()
        with self.client() as http:
            response = http.post(
                "/enroll", json={"token": self.token_for(participant_id), "csr_pem": csr_pem}
            )
        response.raise_for_status()
        return participant_id, key_pem, response.json()["certificate_pem"]


@contextmanager
def running_registry(
    postgres_url: str, workdir: Path, *, tls: bool = True, **settings: str
) -> Iterator[Registry]:
    """A healthy registry with its own database, stopped and dropped afterwards."""
    with fresh_database(postgres_url) as database_url:
        registry = Registry(workdir, database_url=database_url, tls=tls, **settings)
        try:
            registry.wait_healthy()
            yield registry
        finally:
            registry.stop()
