"""registry: participants, certificates, enrollment tokens, operators, append-only audit log

Revision ID: registry_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("organisation", sa.String(200), nullable=False, server_default=""),
        sa.Column("contact", sa.String(300), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="participants_status"),
    )
    op.create_index("ix_participants_status", "participants", ["status"])
    op.create_table(
        "certificates",
        sa.Column("serial", sa.String(40), primary_key=True),
        sa.Column(
            "participant_id",
            sa.String(63),
            sa.ForeignKey("participants.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False, unique=True),
        _ts("not_before"),
        _ts("not_after"),
        sa.Column("issued_via", sa.String(16), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        _ts("revoked_at", nullable=True),
    )
    op.create_index("ix_certificates_participant_id", "certificates", ["participant_id"])
    op.create_table(
        "enrollment_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column(
            "participant_id",
            sa.String(63),
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(100), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
    )
    op.create_index("ix_enrollment_tokens_participant_id", "enrollment_tokens", ["participant_id"])
    op.create_table(
        "operators",
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("role IN ('admin', 'job_operator', 'viewer')", name="operators_role"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=True),  # bigserial
        _ts("at"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_kind", "audit_log", ["kind"])
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("operators")
    op.drop_table("enrollment_tokens")
    op.drop_table("certificates")
    op.drop_table("participants")
