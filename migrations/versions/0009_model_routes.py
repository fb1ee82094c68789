"""Model routing as data, seeded with the ``auto`` route: classification, extraction and
summaries go to Haiku 4.5; analysis of under 5,000 characters to Sonnet 4.5; anything else to
Opus 4.5.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AUTO = [
    (1, "classification", None, "claude-haiku-4-5"),
    (2, "extraction", None, "claude-haiku-4-5"),
    (3, "summary", None, "claude-haiku-4-5"),
    (4, "analysis", 5000, "claude-sonnet-4-5"),
    (5, None, None, "claude-opus-4-5"),
]


def upgrade() -> None:
    routes = op.create_table(
        "model_routes",
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=True),
        sa.Column("max_input_chars", sa.Integer(), nullable=True),
        sa.Column("model", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("route", "rank", name=op.f("pk_model_routes")),
    )
    op.bulk_insert(routes, [{"route": "auto", "rank": rank, "task_type": task,
                             "max_input_chars": chars, "model": model}
                            for rank, task, chars, model in AUTO])


def downgrade() -> None:
    op.drop_table("model_routes")
