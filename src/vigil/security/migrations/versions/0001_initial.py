"""Initial schema: users, API keys, audit log, change requests, cases.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vigil.security.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RESOLVED = "('resolved_fraud', 'resolved_legitimate')"

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
]
POSTGRES_APPEND_ONLY = [
    """CREATE FUNCTION vigil_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION vigil_audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION vigil_audit_log_append_only()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('analyst', 'lead', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(160), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id", "id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(160), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(160), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('rule', 'threshold')", name="ck_change_requests_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'rejected')", name="ck_change_requests_status"
        ),
    )
    op.create_index("ix_change_requests_status", "change_requests", ["status", "id"])
    op.create_table(
        "approved_settings",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(128), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("change_requests.id"), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("group_type", sa.String(16), nullable=False),
        sa.Column("group_key", sa.String(256), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("score_max", sa.Float(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(16), nullable=True),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('new', 'triage', 'investigating', 'resolved_fraud', 'resolved_legitimate')",
            name="ck_cases_status",
        ),
    )
    # at most one open case per ring, agent or customer: a race to open it fails here
    op.create_index(
        "uq_cases_open_group",
        "cases",
        ["group_type", "group_key"],
        unique=True,
        sqlite_where=sa.text(f"status NOT IN {RESOLVED}"),
        postgresql_where=sa.text(f"status NOT IN {RESOLVED}"),
    )
    op.create_index("ix_cases_queue", "cases", ["status", "score_max"])
    op.create_index("ix_cases_assignee", "cases", ["assignee_id", "status"])
    op.create_table(
        "case_alerts",
        sa.Column("alert_id", sa.String(256), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(256), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_case_alerts_case", "case_alerts", ["case_id", "event_time_ms"])
    op.create_table(
        "case_members",
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("entity", sa.String(256), primary_key=True),
    )
    op.create_index("ix_case_members_entity", "case_members", ["entity"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author", sa.String(160), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id", "id"])
    op.create_table(
        "case_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("author", sa.String(160), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("outcome IN ('fraud', 'legitimate')", name="ck_case_labels_outcome"),
    )
    op.create_index("ix_case_labels_case", "case_labels", ["case_id", "id"])
    op.create_table(
        "case_identifiers",
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value_hash", sa.String(64), primary_key=True),
        sa.Column("added_by", sa.String(160), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_case_identifiers_hash", "case_identifiers", ["kind", "value_hash"])
    op.create_table(
        "label_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("event_json", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_label_outbox_pending", "label_outbox", ["delivered_at", "id"])

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_APPEND_ONLY if postgres else SQLITE_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in (
        "label_outbox",
        "case_identifiers",
        "case_labels",
        "case_notes",
        "case_members",
        "case_alerts",
        "cases",
        "approved_settings",
        "change_requests",
        "audit_log",
        "api_keys",
        "users",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS vigil_audit_log_append_only()")
