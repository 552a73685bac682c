"""jobs.audits: what each participant's membership-inference attack on the final model measured

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("audits", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    op.drop_column("jobs", "audits")
