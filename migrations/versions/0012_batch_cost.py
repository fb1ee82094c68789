"""Cost so far on the batch row (added in the transaction that records each call), and
``batch_status_v2`` = ``batch_status_v1`` + that cost; status reads stay O(1).

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("cost", sa.Numeric(precision=20, scale=10),
                                       server_default="0", nullable=False))
    op.execute("UPDATE batches b SET cost = c.cost FROM (SELECT batch_id, sum(cost) AS cost"
               " FROM llm_calls GROUP BY batch_id) c WHERE c.batch_id = b.id AND c.cost IS NOT NULL")
    op.execute("CREATE VIEW batch_status_v2 AS"
               " SELECT s.*, b.cost FROM batch_status_v1 s JOIN batches b ON b.id = s.id")


def downgrade() -> None:
    op.execute("DROP VIEW batch_status_v2")
    op.drop_column("batches", "cost")
