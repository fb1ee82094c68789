"""Monthly budgets per tenant, and each tenant's spend this month kept as it happens.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenant_spend',
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('spent', sa.Numeric(precision=20, scale=10), server_default='0', nullable=False),
    sa.Column('reserved', sa.Numeric(precision=20, scale=10), server_default='0', nullable=False),
    sa.CheckConstraint('spent >= 0 AND reserved >= 0', name=op.f('ck_tenant_spend_non_negative')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_spend_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'month', name=op.f('pk_tenant_spend'))
    )
    op.add_column('tenants', sa.Column('monthly_budget_usd', sa.Numeric(precision=20, scale=10), nullable=True))
    op.create_check_constraint(op.f('ck_tenants_budget_non_negative'), 'tenants',
                               'monthly_budget_usd >= 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_tenants_budget_non_negative'), 'tenants')
    op.drop_column('tenants', 'monthly_budget_usd')
    op.drop_table('tenant_spend')
