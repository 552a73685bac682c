"""Postgres for the contribution service: the shared bootstrap with its own migrations."""

from __future__ import annotations

from pathlib import Path

from consortium_service.db import ensure_database, wait_for_postgres
from consortium_service.db import migrate as migrate_folder

__all__ = ["MIGRATIONS", "ensure_database", "migrate", "wait_for_postgres"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def migrate(database_url: str) -> None:
    """Apply every contribution migration (blocking; call it from a thread)."""
    migrate_folder(database_url, MIGRATIONS)
