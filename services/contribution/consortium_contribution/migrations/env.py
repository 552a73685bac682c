"""Alembic environment for the contribution service's tables (async, its own version table)."""

from consortium_contribution.db.models import Base
from consortium_service.migrations_env import run_env

run_env(Base.metadata, version_table="alembic_version_contribution")
