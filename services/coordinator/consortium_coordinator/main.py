"""``consortium-coordinator``: run the coordinator service with uvicorn."""

from __future__ import annotations

import logging
import os

import uvicorn

from .app import create_app
from .settings import get_settings

__all__ = ["main"]


def main() -> None:
    """Start the service on the configured host and port."""
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
