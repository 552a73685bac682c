"""Alembic environment for the coordinator's tables (async, its own version table)."""

from consortium_coordinator.db.models import Base
from consortium_service.migrations_env import run_env

run_env(Base.metadata, version_table="alembic_version_coordinator")
