"""Index the queued jobs of a batch, so cancelling a batch drops its queue rows by index.

Queue rows carry ``{"request_id": …, "batch_id": …}`` as their args.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_procrastinate_jobs_batchmill_batch_todo ON procrastinate_jobs"
        " ((args ->> 'batch_id')) WHERE status = 'todo'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_procrastinate_jobs_batchmill_batch_todo")
