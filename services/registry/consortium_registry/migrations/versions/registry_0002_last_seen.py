"""participants.last_seen_at (presence from heartbeats)

Revision ID: registry_0002
Revises: registry_0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "participants", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("participants", "last_seen_at")
