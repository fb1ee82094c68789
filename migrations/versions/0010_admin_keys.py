"""Admin API keys: they see every tenant in reports.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("admin", sa.Boolean(), server_default="false",
                                        nullable=False))


def downgrade() -> None:
    op.drop_column("api_keys", "admin")
