"""``consortium-gateway``: run the gateway with uvicorn (HTTPS when a certificate is set)."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from .app import create_app
from .settings import get_settings

__all__ = ["main"]

log = logging.getLogger(__name__)


def main() -> None:
    """Serve the gateway on the configured host and port."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    options: dict[str, Any] = {}
    if settings.tls_cert_file and settings.tls_key_file:
        options = {
            "ssl_certfile": str(settings.tls_cert_file),
            "ssl_keyfile": str(settings.tls_key_file),
        }
    else:
        log.warning("no TLS certificate configured: serving plain HTTP (acceptable in tests only)")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        **options,
    )


if __name__ == "__main__":
    main()
