"""Advertiser keys: an API key bound to one advertiser reads that advertiser's campaign
figures only (docs/ads.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("advertiser_id", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "advertiser_id")
