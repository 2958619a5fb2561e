"""Advertiser users: a person at an advertiser (role ``advertiser``) sees that advertiser's
campaigns in the console and nothing else (docs/ads.md, docs/security.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite changes a CHECK constraint by copying the table (PostgreSQL alters it)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("advertiser_id", sa.String(128), nullable=True))
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint(
            "ck_users_role", "role IN ('analyst', 'lead', 'admin', 'advertiser')"
        )
        # an advertiser's account names its advertiser, and only theirs does
        batch.create_check_constraint(
            "ck_users_advertiser",
            "(role = 'advertiser') = (advertiser_id IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_advertiser", type_="check")
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint("ck_users_role", "role IN ('analyst', 'lead', 'admin')")
        batch.drop_column("advertiser_id")
