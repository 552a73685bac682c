"""The registry's migrations share a database with the coordinator's and undo cleanly."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from consortium_coordinator.db.bootstrap import migrate as migrate_coordinator
from consortium_registry.db.bootstrap import MIGRATIONS, migrate
from support.registry import fresh_database

pytestmark = pytest.mark.integration


async def tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


def test_both_services_migrate_one_database_and_the_registry_downgrades(postgres_url: str):
    with fresh_database(postgres_url) as url:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        migrate_coordinator(url)
        migrate(url)
        migrate(url)  # idempotent
        ours = {"participants", "certificates", "enrollment_tokens", "operators", "audit_log"}
        found = asyncio.run(tables(dsn))
        assert ours | {"jobs", "rounds"} <= found
        assert {"alembic_version_registry", "alembic_version_coordinator"} <= found
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", url)
        command.downgrade(config, "base")
        left = asyncio.run(tables(dsn))
        assert not ours & left and {"jobs", "rounds"} <= left
