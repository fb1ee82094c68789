"""Seed published model prices; add ``batchmill_call_cost_v1`` and the ``batch_status_v1`` view.

Prices are USD per million tokens. Cache writes cost 1.25x input (5 minute TTL) or 2x (1 hour),
cache reads 0.1x; the provider's Message Batches API takes 50 % off all of them.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EFFECTIVE_FROM = "2024-01-01T00:00:00Z"

# (input, output) per MTok, for each model id and its alias.
PUBLISHED_PRICES: dict[tuple[str, ...], tuple[str, str]] = {
    ("claude-opus-4-6",): ("5", "25"),
    ("claude-opus-4-5", "claude-opus-4-5-20251101"): ("5", "25"),
    ("claude-opus-4-1", "claude-opus-4-1-20250805"): ("15", "75"),
    ("claude-opus-4-0", "claude-opus-4-20250514"): ("15", "75"),
    ("claude-sonnet-4-6",): ("3", "15"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"): ("3", "15"),
    ("claude-sonnet-4-0", "claude-sonnet-4-20250514"): ("3", "15"),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001"): ("1", "5"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"): ("0.80", "4"),
    ("claude-3-haiku-20240307",): ("0.25", "1.25"),
}

CALL_COST_V1 = """
CREATE FUNCTION batchmill_call_cost_v1(
    p_model text, p_at timestamptz,
    p_input bigint, p_output bigint, p_cache_write_5m bigint, p_cache_write_1h bigint,
    p_cache_read bigint, p_via_provider_batch boolean
) RETURNS numeric
LANGUAGE sql STABLE AS $$
    -- NULL when the model has no price at p_at: unknown is never reported as free.
    SELECT (p_input * input_per_mtok + p_output * output_per_mtok
            + p_cache_write_5m * cache_write_5m_per_mtok
            + p_cache_write_1h * cache_write_1h_per_mtok
            + p_cache_read * cache_read_per_mtok) / 1000000
           * CASE WHEN p_via_provider_batch THEN 1 - batch_discount ELSE 1 END
    FROM model_prices
    WHERE model = p_model AND effective_from <= p_at
    ORDER BY effective_from DESC
    LIMIT 1
$$;
"""

BATCH_STATUS_V1 = """
CREATE VIEW batch_status_v1 AS
SELECT b.id,
       b.tenant_id,
       CASE WHEN b.ended_at IS NOT NULL THEN 'ended'
            WHEN b.cancel_initiated_at IS NOT NULL THEN 'canceling'
            ELSE 'in_progress' END AS processing_status,
       b.request_count,
       b.processing_count,
       b.succeeded_count,
       b.errored_count,
       b.canceled_count,
       b.expired_count,
       b.mode,
       b.priority,
       b.metadata,
       b.callback_url,
       b.created_at,
       b.expires_at,
       b.ended_at,
       b.cancel_initiated_at,
       b.archived_at
FROM batches b;
"""


def upgrade() -> None:
    prices = sa.table(
        "model_prices",
        *(sa.column(name) for name in (
            "model", "effective_from", "input_per_mtok", "output_per_mtok",
            "cache_write_5m_per_mtok", "cache_write_1h_per_mtok", "cache_read_per_mtok",
        )),
    )
    rows = []
    for models, (input_price, output_price) in PUBLISHED_PRICES.items():
        base = Decimal(input_price)
        for model in models:
            rows.append({
                "model": model,
                "effective_from": EFFECTIVE_FROM,
                "input_per_mtok": base,
                "output_per_mtok": Decimal(output_price),
                "cache_write_5m_per_mtok": base * Decimal("1.25"),
                "cache_write_1h_per_mtok": base * 2,
                "cache_read_per_mtok": base * Decimal("0.1"),
            })
    op.bulk_insert(prices, rows)
    op.execute(CALL_COST_V1)
    op.execute(BATCH_STATUS_V1)


def downgrade() -> None:
    op.execute("DROP VIEW batch_status_v1")
    op.execute("DROP FUNCTION batchmill_call_cost_v1")
    op.execute(f"DELETE FROM model_prices WHERE effective_from = '{EFFECTIVE_FROM}'")
