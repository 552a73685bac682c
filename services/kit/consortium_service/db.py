"""Postgres for a service: wait until it answers, create the database, apply Alembic migrations.

Each service owns its tables and its migrations folder; the database may be shared.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

__all__ = ["ensure_database", "migrate", "wait_for_postgres"]

log = logging.getLogger(__name__)


def _dsn(database_url: str, database: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def wait_for_postgres(database_url: str, *, attempts: int = 0) -> None:
    """Block until Postgres accepts connections (``attempts=0``: forever), logging each retry."""
    tried = 0
    while True:
        tried += 1
        try:
            conn = await asyncpg.connect(_dsn(database_url, "postgres"), timeout=5)
            await conn.close()
            return
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            if attempts and tried >= attempts:
                raise
            delay = min(5.0, 0.5 * tried)
            log.warning("Postgres not reachable (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)


async def ensure_database(database_url: str) -> None:
    """Create the URL's database when it does not exist yet."""
    name = make_url(database_url).database
    conn = await asyncpg.connect(_dsn(database_url, "postgres"), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
            log.info("created database %s", name)
    finally:
        await conn.close()


def migrate(database_url: str, migrations: Path) -> None:
    """Apply every migration in ``migrations`` (blocking; call it from a thread in a loop)."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")
