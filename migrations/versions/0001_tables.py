"""Batchmill's own tables: tenants, api_keys, batches, requests, llm_calls, model_prices.

Revision ID: 0001
Revises: 
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_prices',
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('input_per_mtok', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('output_per_mtok', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('cache_write_5m_per_mtok', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('cache_write_1h_per_mtok', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('cache_read_per_mtok', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('batch_discount', sa.Numeric(precision=4, scale=3), server_default='0.5', nullable=False),
    sa.CheckConstraint('batch_discount >= 0 AND batch_discount < 1', name=op.f('ck_model_prices_batch_discount')),
    sa.CheckConstraint('input_per_mtok >= 0 AND output_per_mtok >= 0 AND cache_write_5m_per_mtok >= 0 AND cache_write_1h_per_mtok >= 0 AND cache_read_per_mtok >= 0', name=op.f('ck_model_prices_non_negative')),
    sa.PrimaryKeyConstraint('model', 'effective_from', name=op.f('pk_model_prices'))
    )
    op.create_table('tenants',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('name', name=op.f('uq_tenants_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_tenant_id'), 'api_keys', ['tenant_id'], unique=False)
    op.create_table('batches',
    sa.Column('id', sa.Text(collation='C'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('mode', sa.Text(), server_default='realtime', nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('callback_url', sa.Text(), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_count', sa.Integer(), nullable=False),
    sa.Column('processing_count', sa.Integer(), nullable=False),
    sa.Column('succeeded_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('errored_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('canceled_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('expired_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), server_default=sa.text("now() + interval '24 hours'"), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_initiated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("mode IN ('realtime', 'provider_batch', 'auto')", name=op.f('ck_batches_mode')),
    sa.CheckConstraint('(processing_count = 0) = (ended_at IS NOT NULL)', name=op.f('ck_batches_ended_iff_done')),
    sa.CheckConstraint('processing_count + succeeded_count + errored_count + canceled_count + expired_count = request_count', name=op.f('ck_batches_counts_add_up')),
    sa.CheckConstraint('processing_count >= 0 AND succeeded_count >= 0 AND errored_count >= 0 AND canceled_count >= 0 AND expired_count >= 0', name=op.f('ck_batches_counts_non_negative')),
    sa.CheckConstraint('request_count BETWEEN 1 AND 100000', name=op.f('ck_batches_request_count')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_batches_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    op.create_index('ix_batches_tenant_id_id', 'batches', ['tenant_id', 'id'], unique=False)
    op.create_table('requests',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('batch_id', sa.Text(collation='C'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('custom_id', sa.Text(), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.Text(), server_default='queued', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('error', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('output_tokens', sa.BigInteger(), nullable=True),
    sa.Column('cache_creation_input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('cache_read_input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('cost', sa.Numeric(precision=20, scale=10), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status IN ('succeeded', 'errored', 'canceled', 'expired')) = (finished_at IS NOT NULL)", name=op.f('ck_requests_terminal_iff_finished')),
    sa.CheckConstraint("custom_id ~ '^[a-zA-Z0-9_-]{1,64}$'", name=op.f('ck_requests_custom_id')),
    sa.CheckConstraint("status <> 'errored' OR error IS NOT NULL OR params IS NULL", name=op.f('ck_requests_errored_has_error')),
    sa.CheckConstraint("status <> 'succeeded' OR result IS NOT NULL OR params IS NULL", name=op.f('ck_requests_succeeded_has_result')),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'errored', 'canceled', 'expired')", name=op.f('ck_requests_status')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_requests_attempts')),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_requests_batch_id_batches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requests')),
    sa.UniqueConstraint('batch_id', 'custom_id', name=op.f('uq_requests_batch_id_custom_id')),
    sa.UniqueConstraint('batch_id', 'position', name=op.f('uq_requests_batch_id_position'))
    )
    op.create_table('llm_calls',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('request_id', sa.BigInteger(), nullable=True),
    sa.Column('batch_id', sa.Text(collation='C'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('via_provider_batch', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('latency_seconds', sa.Numeric(precision=12, scale=6), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error_type', sa.Text(), nullable=True),
    sa.Column('provider_request_id', sa.Text(), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cache_creation_5m_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cache_creation_1h_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cache_read_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cost', sa.Numeric(precision=20, scale=10), nullable=True),
    sa.CheckConstraint('attempt >= 1', name=op.f('ck_llm_calls_attempt')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_llm_calls_request_id_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_llm_calls_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_calls')),
    sa.UniqueConstraint('request_id', 'attempt', name=op.f('uq_llm_calls_request_id_attempt'))
    )
    op.create_index('ix_llm_calls_batch_id', 'llm_calls', ['batch_id'], unique=False)
    op.create_index('ix_llm_calls_started_at', 'llm_calls', ['started_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_llm_calls_started_at', table_name='llm_calls')
    op.drop_index('ix_llm_calls_batch_id', table_name='llm_calls')
    op.drop_table('llm_calls')
    op.drop_table('requests')
    op.drop_index('ix_batches_tenant_id_id', table_name='batches')
    op.drop_table('batches')
    op.drop_index(op.f('ix_api_keys_tenant_id'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_table('tenants')
    op.drop_table('model_prices')
