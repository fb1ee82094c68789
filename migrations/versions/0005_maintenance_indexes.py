"""Partial indexes for the periodic jobs: open batches by expiry, unarchived ones by age.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_batches_created_at_unarchived', 'batches', ['created_at'], unique=False, postgresql_where=sa.text('archived_at IS NULL'))
    op.create_index('ix_batches_expires_at_open', 'batches', ['expires_at'], unique=False, postgresql_where=sa.text('ended_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_batches_expires_at_open', table_name='batches', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_batches_created_at_unarchived', table_name='batches', postgresql_where=sa.text('archived_at IS NULL'))
