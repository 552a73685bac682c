"""The gateway as a real process for integration tests, in front of a registry and coordinator.

The gateway serves HTTPS with a server certificate from the registry's CA, verifies the
registry's certificate with the same CA, and reads the metrics service's tables in
``database_url``.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
from consortium_devtools.infra import free_port
from consortium_registry.files import write_private, write_public

from support.processes import BIN, Process
from support.registry import Registry

__all__ = ["Gateway"]


class Gateway(Process):
    """``consortium-gateway`` on a free port."""

    def __init__(
        self,
        workdir: Path,
        *,
        registry: Registry,
        coordinator_url: str,
        database_url: str,
        nats_url: str | None = None,
        **settings: str,
    ) -> None:
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}/api/v1"
        self.ca_cert = registry.ca_cert
        key, cert = registry.ca().issue_server_certificate(["127.0.0.1", "localhost"])
        cert_file, key_file = workdir / "gateway.crt", workdir / "gateway.key"
        write_public(cert_file, cert)
        write_private(key_file, key)
        env = {
            "CONSORTIUM_GATEWAY_PORT": str(self.port),
            "CONSORTIUM_GATEWAY_TLS_CERT_FILE": str(cert_file),
            "CONSORTIUM_GATEWAY_TLS_KEY_FILE": str(key_file),
            "CONSORTIUM_GATEWAY_CA_FILE": str(registry.ca_cert),
            "CONSORTIUM_GATEWAY_REGISTRY_URL": registry.base_url.removesuffix("/api/v1"),
            "CONSORTIUM_GATEWAY_COORDINATOR_URL": coordinator_url,
            "CONSORTIUM_GATEWAY_DATABASE_URL": database_url,
            "CONSORTIUM_GATEWAY_CONSOLE_DIR": str(workdir / "console"),
            **({"CONSORTIUM_GATEWAY_NATS_URL": nats_url} if nats_url else {}),
            **{f"CONSORTIUM_GATEWAY_{k.upper()}": v for k, v in settings.items()},
        }
        super().__init__([str(BIN / "consortium-gateway")], workdir / "gateway.log", env)

    def client(self, token: str = "", **options: object) -> httpx.Client:
        """An httpx client that trusts the platform CA, logged in when ``token`` is given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify = ssl.create_default_context(cafile=str(self.ca_cert))
        return httpx.Client(
            base_url=self.base_url, verify=verify, headers=headers, timeout=30, **options
        )

    def login(self, username: str, password: str) -> str:
        with self.client() as http:
            response = http.post("/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited:\n{self.output()[-3000:]}")
            try:
                with self.client() as http:
                    if http.get("/health").status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway not healthy:\n{self.output()[-3000:]}")
