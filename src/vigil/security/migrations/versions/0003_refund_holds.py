"""Refund holds: a refund in review or denied waits for a person; agent ids of users and keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vigil.security.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # the support-agent id a person or a key acts as: never the reviewer of its own refunds
    op.add_column("users", sa.Column("agent_id", sa.String(128), nullable=True))
    op.add_column("api_keys", sa.Column("agent_id", sa.String(128), nullable=True))
    op.create_table(
        "refund_holds",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("refund_id", sa.String(128), nullable=False, unique=True),
        sa.Column("order_id", sa.String(128), nullable=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("agent_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("requested_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_by", sa.String(160), nullable=True),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("cases.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('held', 'denied', 'released', 'blocked')", name="ck_refund_holds_status"
        ),
        sa.CheckConstraint("decision IN ('review', 'deny')", name="ck_refund_holds_decision"),
        sa.CheckConstraint("source IN ('api', 'runtime')", name="ck_refund_holds_source"),
        # a resolved hold says who resolved it, when and why; an open one says none of it
        sa.CheckConstraint(
            "(status IN ('held', 'denied')) = "
            "(resolved_by IS NULL AND resolved_at IS NULL AND resolution_reason IS NULL)",
            name="ck_refund_holds_resolution",
        ),
    )
    # the queue pages newest first by id, filtered by status, agent or customer
    op.create_index("ix_refund_holds_status", "refund_holds", ["status", "id"])
    op.create_index("ix_refund_holds_agent", "refund_holds", ["agent_id", "id"])
    op.create_index("ix_refund_holds_customer", "refund_holds", ["customer_id", "id"])
    op.create_index("ix_refund_holds_case", "refund_holds", ["case_id"])


def downgrade() -> None:
    for name in (
        "ix_refund_holds_case",
        "ix_refund_holds_customer",
        "ix_refund_holds_agent",
        "ix_refund_holds_status",
    ):
        op.drop_index(name, table_name="refund_holds")
    op.drop_table("refund_holds")
    op.drop_column("api_keys", "agent_id")
    op.drop_column("users", "agent_id")
