"""``consortium-contribution``: run the contribution service with uvicorn."""

from __future__ import annotations

import logging

import torch
import uvicorn

from .app import create_app
from .settings import get_settings

__all__ = ["main"]


def main() -> None:
    """Start the service on the configured host and port (scoring uses one thread)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    torch.set_num_threads(1)
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
