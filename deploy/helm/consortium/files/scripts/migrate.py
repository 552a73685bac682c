"""Apply every service's Alembic migrations to the platform's database (the chart's hook Job).

Run by the ``migrations`` Job before an upgrade (and at install) with the gateway's image, which
holds every service's package: the services themselves start with ``RUN_MIGRATIONS=false`` and
wait in their ``wait-for-schema`` init container until their tables are at head. Each service
owns its tables and its Alembic version table; they share one database. The URL comes from the
``CONSORTIUM_MIGRATIONS_DATABASE_URL`` environment variable (the chart's database Secret).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys

SERVICES = ("coordinator", "registry", "metrics", "contribution")
"""Services that own tables, in the order their migrations run."""

log = logging.getLogger("consortium.migrations")


def main() -> int:
    """Wait for Postgres, create the database if needed, migrate each service to head."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    url = os.environ.get("CONSORTIUM_MIGRATIONS_DATABASE_URL", "")
    if not url:
        log.error("CONSORTIUM_MIGRATIONS_DATABASE_URL is not set")
        return 2
    from consortium_service.db import ensure_database, wait_for_postgres

    asyncio.run(wait_for_postgres(url))
    asyncio.run(ensure_database(url))
    for service in SERVICES:
        bootstrap = importlib.import_module(f"consortium_{service}.db.bootstrap")
        log.info("migrating %s (%s)", service, bootstrap.MIGRATIONS)
        bootstrap.migrate(url)
    log.info("every service's tables are at head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
