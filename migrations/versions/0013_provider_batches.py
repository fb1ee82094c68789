"""Mode provider_batch: the provider Message Batches that carry a batch's requests, and each
request's place in one.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_batches",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("batch_id", sa.Text(collation="C"), nullable=False),
        sa.Column("provider_batch_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("submit_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'submitted', 'ended', 'done')",
                           name=op.f("ck_provider_batches_status")),
        sa.CheckConstraint("status NOT IN ('submitted', 'ended') OR provider_batch_id IS NOT NULL",
                           name=op.f("ck_provider_batches_submitted_has_provider_id")),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"],
                                name=op.f("fk_provider_batches_batch_id_batches"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_batches")),
        sa.UniqueConstraint("provider_batch_id", name=op.f("uq_provider_batches_provider_batch_id")),
    )
    op.create_index(op.f("ix_provider_batches_batch_id"), "provider_batches", ["batch_id"])
    op.add_column("requests", sa.Column("provider_batch_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_requests_provider_batch_id_provider_batches"), "requests",
                          "provider_batches", ["provider_batch_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_requests_provider_batch_id"), "requests", ["provider_batch_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_requests_provider_batch_id"), table_name="requests")
    op.drop_constraint(op.f("fk_requests_provider_batch_id_provider_batches"), "requests",
                       type_="foreignkey")
    op.drop_column("requests", "provider_batch_id")
    op.drop_index(op.f("ix_provider_batches_batch_id"), table_name="provider_batches")
    op.drop_table("provider_batches")
