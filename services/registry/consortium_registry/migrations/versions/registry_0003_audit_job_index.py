"""audit_log: an index on each entry's job (``data->>'job_id'``) for a job's audit trail

Revision ID: registry_0003
Revises: registry_0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_audit_log_job_id ON audit_log ((data->>'job_id'), seq) "
        "WHERE data->>'job_id' IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_log_job_id")
