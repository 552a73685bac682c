"""contribution: jobs seen, rounds scored (or why not), each participant's value per round

Revision ID: contribution_0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "contribution_0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "contribution_jobs",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "contribution_rounds",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("scored", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("evaluations", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("eval_fraction", sa.Float(), nullable=False, server_default="0"),
        sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("utility_all", sa.Float(), nullable=True),
        sa.Column("utility_none", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "contribution_values",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("participant", sa.Text(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_index("ix_contribution_values_participant", "contribution_values", ["participant"])


def downgrade() -> None:
    op.drop_index("ix_contribution_values_participant", "contribution_values")
    op.drop_table("contribution_values")
    op.drop_table("contribution_rounds")
    op.drop_table("contribution_jobs")
