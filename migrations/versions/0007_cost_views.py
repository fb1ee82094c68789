"""Versioned reporting views over llm_calls, the truth for spend.

A call's cost is NULL when its model had no price at the time: such calls are counted in
``unpriced_calls`` and never reported as free. Days and months are UTC.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TOTALS = """
       count(*) AS calls,
       sum(c.input_tokens) AS input_tokens,
       sum(c.output_tokens) AS output_tokens,
       sum(c.cache_creation_5m_tokens + c.cache_creation_1h_tokens) AS cache_write_tokens,
       sum(c.cache_read_tokens) AS cache_read_tokens,
       coalesce(sum(c.cost), 0) AS cost,
       count(*) FILTER (WHERE c.cost IS NULL AND c.finished_at IS NOT NULL) AS unpriced_calls,
       count(*) FILTER (WHERE c.finished_at IS NULL) AS unknown_outcome_calls"""

VIEWS = {
    "cost_daily_v1": f"""
        SELECT (date_trunc('day', c.started_at AT TIME ZONE 'UTC'))::date AS day,
               c.tenant_id, t.name AS tenant, c.model, {TOTALS}
        FROM llm_calls c JOIN tenants t ON t.id = c.tenant_id
        GROUP BY 1, 2, 3, 4""",
    "cost_by_batch_v1": f"""
        SELECT c.batch_id, c.tenant_id, t.name AS tenant,
               min(c.started_at) AS first_call_at, max(c.started_at) AS last_call_at, {TOTALS}
        FROM llm_calls c JOIN tenants t ON t.id = c.tenant_id
        GROUP BY 1, 2, 3""",
    "cost_by_tenant_month_v1": f"""
        SELECT (date_trunc('month', c.started_at AT TIME ZONE 'UTC'))::date AS month,
               c.tenant_id, t.name AS tenant, {TOTALS}
        FROM llm_calls c JOIN tenants t ON t.id = c.tenant_id
        GROUP BY 1, 2, 3""",
    "latency_by_model_v1": """
        SELECT model, count(*) AS calls,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_seconds) AS p50_seconds,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_seconds) AS p95_seconds,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_seconds) AS p99_seconds
        FROM llm_calls
        WHERE http_status = 200
        GROUP BY model""",
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW {name}")
