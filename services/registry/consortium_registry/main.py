"""``consortium-registry``: run the registry with uvicorn, over HTTPS with optional client certs."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from .app import create_app
from .mtls import uvicorn_tls_options
from .pki import prepare_pki
from .settings import get_settings

__all__ = ["main"]


def main() -> None:
    """Prepare the CA and server certificate, then serve on the configured host and port."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    pki = prepare_pki(settings)
    options: dict[str, Any] = {}
    if settings.tls:
        options = uvicorn_tls_options(
            cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca_cert
        )
    config = uvicorn.Config(
        create_app(settings, pki=pki),
        host=settings.host,
        port=settings.port,
        log_level="info",
        **options,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
