"""Mutual TLS under uvicorn: the server's SSLContext and a protocol that exposes the peer cert.

uvicorn terminates TLS but never puts the client's certificate into the ASGI scope. The
protocol classes here do: asyncio (and uvloop) call ``connection_made`` only after the TLS
handshake, so at that point ``transport.get_extra_info("ssl_object").getpeercert(True)`` is the
DER certificate the client proved it holds (already chain-verified by OpenSSL against our CA,
since the context has ``verify_mode = CERT_OPTIONAL`` and our CA as its only trust anchor). The
protocol then wraps the ASGI app *for that connection* so every request on it carries the
ASGI TLS extension (https://asgi.readthedocs.io/en/latest/specs/tls.html)::

    scope["extensions"]["tls"] = {"client_cert_chain": [PEM], "client_cert_der": DER, ...}

Wrapping the app instead of patching uvicorn's scope dictionaries works the same for its h11
and httptools protocols and across uvicorn versions. ``CERT_OPTIONAL`` lets a participant
without a certificate enroll; endpoints that need one (renewal) use the ``CurrentParticipant``
dependency, which reads :func:`client_certificate_der`. Anything uvicorn does not build with
these classes (plain HTTP, ``tls=False``) carries no extension, so no header can fake one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "MutualTLSH11Protocol",
    "client_certificate_der",
    "mutual_tls_protocol",
    "server_ssl_context",
    "uvicorn_tls_options",
]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_ssl_context(*, cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context; client certificates optional, verified against ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cafile=str(client_ca))
    return context


def _tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        "cipher_name": cipher[0] if cipher else None,
        "client_cert_der": der,  # not in the ASGI spec: saves every reader a PEM round trip
    }


def _with_tls_extension(app: ASGIApp, tls: dict[str, Any]) -> ASGIApp:
    async def app_with_peer_certificate(scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
        return await app(scope, receive, send)

    return app_with_peer_certificate


class _PeerCertificateMixin:
    """Wrap ``self.app`` per connection once the TLS handshake is done."""

    app: ASGIApp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        tls = _tls_extension(transport)
        if tls is not None:
            self.app = _with_tls_extension(self.app, tls)


class MutualTLSH11Protocol(_PeerCertificateMixin, H11Protocol):
    """uvicorn's h11 protocol that adds the peer certificate to every request's scope."""


def mutual_tls_protocol() -> type[asyncio.Protocol]:
    """The httptools-based protocol when httptools is installed (uvicorn's default), else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        return MutualTLSH11Protocol

    class MutualTLSHttpToolsProtocol(_PeerCertificateMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol that adds the peer certificate to every request."""

    return MutualTLSHttpToolsProtocol


def uvicorn_tls_options(*, cert: Path, key: Path, client_ca: Path) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that serve HTTPS with optional client certs."""
    context = server_ssl_context(cert=cert, key=key, client_ca=client_ca)
    return {
        "http": mutual_tls_protocol(),
        "ssl_context_factory": lambda _config, _default: context,
    }


def client_certificate_der(scope: Scope) -> bytes | None:
    """The DER client certificate the TLS layer verified for this request, if any."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    der = tls.get("client_cert_der")
    return der if isinstance(der, bytes) and der else None
