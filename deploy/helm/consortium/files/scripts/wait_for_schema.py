"""Wait until the tables of the named services are at their newest migration (init container).

The chart's migrations Job moves the schema; a pod started before it finished (at the first
install, when Postgres is created by the same release) waits here instead of failing on missing
tables. A database at a revision this image does not know was migrated by a newer release (a
rollback of the images): the pod goes on, as the pods of the older release did during the
upgrade. Usage: ``python wait_for_schema.py coordinator [metrics ...]``; the database URL comes
from the ``CONSORTIUM_MIGRATIONS_DATABASE_URL`` environment variable.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys

import asyncpg
from alembic.script import ScriptDirectory

log = logging.getLogger("consortium.wait-for-schema")
PAUSE_S = 3.0


def script_of(service: str) -> ScriptDirectory:
    """The Alembic scripts of a service's migrations, as shipped in this image."""
    bootstrap = importlib.import_module(f"consortium_{service}.db.bootstrap")
    return ScriptDirectory(str(bootstrap.MIGRATIONS))


def head_of(service: str) -> set[str]:
    """The head revision(s) of a service's migrations, as shipped in this image."""
    return set(script_of(service).get_heads())


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises when the revision is not among the scripts
        return False


def schema_ready(current: set[str], script: ScriptDirectory) -> bool:
    """At head, or ahead of this image (revisions it does not know: a newer release's)."""
    if current == set(script.get_heads()):
        return True
    return bool(current) and not any(_known(script, revision) for revision in current)


async def current_of(dsn: str, service: str) -> set[str]:
    """The revision(s) recorded in the service's own version table (empty if none yet)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        table = f"alembic_version_{service}"
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return set()
        return {row[0] for row in await conn.fetch(f'SELECT version_num FROM "{table}"')}
    finally:
        await conn.close()


async def wait(dsn: str, services: list[str]) -> None:
    """Return once every service's version table is at (or past) this image's heads."""
    scripts = {service: script_of(service) for service in services}
    while True:
        behind = []
        for service in services:
            try:
                current = await current_of(dsn, service)
            except Exception as exc:  # Postgres not there yet: the same as not migrated
                behind.append(f"{service}: version table unreadable ({type(exc).__name__})")
                continue
            if not schema_ready(current, scripts[service]):
                behind.append(f"{service} at {sorted(current) or 'nothing'}")
        if not behind:
            log.info("schema ready for %s", ", ".join(services))
            return
        log.info("waiting for the migrations Job: %s", "; ".join(behind))
        await asyncio.sleep(PAUSE_S)


def main() -> int:
    """Parse the arguments and wait."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    url = os.environ.get("CONSORTIUM_MIGRATIONS_DATABASE_URL", "")
    if not url or len(sys.argv) < 2:
        log.error("usage: CONSORTIUM_MIGRATIONS_DATABASE_URL=... wait_for_schema.py SERVICE...")
        return 2
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(wait(dsn, sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
