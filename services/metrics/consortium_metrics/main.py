"""``consortium-metrics``: run the metrics service with uvicorn."""

from __future__ import annotations

import gc
import logging

import uvicorn

from .app import create_app
from .settings import get_settings

__all__ = ["GC_THRESHOLDS", "main"]

GC_THRESHOLDS = (20_000, 20, 100)
"""Ingestion allocates tens of objects per event; CPython's default (700, 10, 10) then runs a
full collection over every live object every few thousand events. With what start-up loaded
frozen and these thresholds, Python time per event fell by about a quarter in an in-process
run (whose heap also held the benchmark's messages; the service's own heap is smaller)."""


def main() -> None:
    """Start the service on the configured host and port."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    app = create_app(settings)
    gc.collect()
    gc.freeze()  # what start-up loaded is never garbage: never scan it again
    gc.set_threshold(*GC_THRESHOLDS)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
