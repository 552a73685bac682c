"""The uvicorn protocol classes put the verified peer certificate into the ASGI scope.

A real uvicorn server runs in a thread with a tiny ASGI app that echoes what the scope's TLS
extension says; clients connect with and without certificates, over both HTTP parsers.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from consortium_devtools.infra import free_port
from consortium_registry.ca import CertificateAuthority
from consortium_registry.mtls import (
    MutualTLSH11Protocol,
    client_certificate_der,
    mutual_tls_protocol,
    server_ssl_context,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from support.registry import make_csr


async def echo_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    der = client_certificate_der(scope)
    tls = (scope.get("extensions") or {}).get("tls")
    body = {
        "has_extension": tls is not None,
        "subject": x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None,
        "chain": len(tls["client_cert_chain"]) if tls else None,
        "tls_version": tls["tls_version"] if tls else None,
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mtls")
    ca = CertificateAuthority.load_or_create(root)
    server_key, server_cert = ca.issue_server_certificate(["127.0.0.1"])
    client_key, csr = make_csr("ignored")
    client_cert = ca.sign_participant_csr(csr, "hospital-1", 600).public_bytes(Encoding.PEM)
    files = {
        "server.key": server_key,
        "server.crt": server_cert,
        "client.key": client_key,
        "client.crt": client_cert,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in [*files, "ca.crt"]}


@pytest.fixture(scope="module", params=["h11", "httptools"])
def server(request: pytest.FixtureRequest, pki: dict[str, Path]) -> Iterator[str]:
    protocol = MutualTLSH11Protocol if request.param == "h11" else mutual_tls_protocol()
    context = server_ssl_context(
        cert=pki["server.crt"], key=pki["server.key"], client_ca=pki["ca.crt"]
    )
    port = free_port()
    config = uvicorn.Config(
        echo_tls,
        host="127.0.0.1",
        port=port,
        http=protocol,
        ssl_context_factory=lambda _c, _d: context,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"https://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


def client(pki: dict[str, Path], with_cert: bool) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
    if with_cert:
        context.load_cert_chain(str(pki["client.crt"]), str(pki["client.key"]))
    return httpx.Client(verify=context, timeout=10)


def test_the_verified_client_certificate_reaches_the_app(server: str, pki: dict[str, Path]):
    with client(pki, with_cert=True) as http:
        first = http.get(server).json()
        second = http.get(server).json()  # same connection, next request
    assert first == second
    assert first["subject"] == "CN=hospital-1" and first["chain"] == 1
    assert first["tls_version"] in (0x0303, 0x0304)


def test_without_a_certificate_the_scope_says_none(server: str, pki: dict[str, Path]) -> None:
    with client(pki, with_cert=False) as http:
        body = http.get(server).json()
    assert body["has_extension"] and body["subject"] is None and body["chain"] == 0


def test_client_certificate_der_ignores_foreign_scopes() -> None:
    assert client_certificate_der({"type": "http"}) is None
    assert client_certificate_der({"extensions": {"tls": {"client_cert_der": "pem?"}}}) is None
