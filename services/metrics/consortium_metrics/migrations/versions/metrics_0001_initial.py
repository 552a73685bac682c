"""metrics: every event once by id, job/round/participant projections, rejected messages

Revision ID: metrics_0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "metrics_events",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "metrics_jobs",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("client_task", sa.Text(), nullable=True),
        sa.Column("strategy", sa.Text(), nullable=True),
        sa.Column("planned_rounds", sa.Integer(), nullable=True),
        sa.Column("min_participants", sa.Integer(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("participants", sa.JSON(), nullable=True),
        sa.Column("last_round", sa.Integer(), nullable=True),
        sa.Column("final_metrics", sa.JSON(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_metrics_jobs_created",
        "metrics_jobs",
        [sa.text("created_at DESC"), sa.text("job_id DESC")],
    )
    op.create_index(
        "ix_metrics_jobs_status_created",
        "metrics_jobs",
        ["status", sa.text("created_at DESC"), sa.text("job_id DESC")],
    )
    op.create_table(
        "metrics_rounds",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("participant_metrics", sa.JSON(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("checkpoint_sha256", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
    )
    op.create_table(
        "metrics_participant_rounds",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("participant", sa.Text(), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("dp_noise_multiplier", sa.Float(), nullable=True),
        sa.Column("dp_sample_rate", sa.Float(), nullable=True),
        sa.Column("dp_steps", sa.BigInteger(), nullable=True),
        sa.Column("dp_delta", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "metrics_rejected_events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("stream_seq", "raw_sha256"),
    )
    op.create_table(
        "metrics_ingest",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("events_stored", sa.BigInteger(), nullable=False),
        sa.Column("duplicates_skipped", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(
        "INSERT INTO metrics_ingest (id, events_stored, duplicates_skipped, rejected, "
        "last_stream_seq) VALUES (1, 0, 0, 0, 0)"
    )


def downgrade() -> None:
    for table in (
        "metrics_ingest",
        "metrics_rejected_events",
        "metrics_participant_rounds",
        "metrics_rounds",
        "metrics_jobs",
        "metrics_events",
    ):
        op.drop_table(table)
