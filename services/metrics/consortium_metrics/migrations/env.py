"""Alembic environment for the metrics service's tables (async, its own version table)."""

from consortium_metrics.db.models import Base
from consortium_service.migrations_env import run_env

run_env(Base.metadata, version_table="alembic_version_metrics")
