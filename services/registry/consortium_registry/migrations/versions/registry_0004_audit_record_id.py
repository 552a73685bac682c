"""audit_log: the id of the published audit record an entry chains (unique), so that a record
delivered twice (a crash between commit and acknowledgement) is chained once

Revision ID: registry_0004
Revises: registry_0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0004"
down_revision = "registry_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("record_id", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_record_id", "audit_log", ["record_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_audit_log_record_id", table_name="audit_log")
    op.drop_column("audit_log", "record_id")
