"""The body of a service's Alembic ``env.py``: async engine, its own version table.

A service's ``env.py`` is then two lines: import its metadata and call :func:`run_env`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["run_env"]


def _only_ours(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate must not touch the other services' tables in a shared database."""
    return not (type_ == "table" and reflected and compare_to is None)


def run_env(target_metadata: MetaData, version_table: str) -> None:
    """Run the migrations Alembic asked for, offline (SQL) or online (asyncpg)."""
    options = {
        "target_metadata": target_metadata,
        "version_table": version_table,
        "include_object": _only_ours,
    }
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())
