"""Fair dispatch order and the fleet-wide rate limiter.

- ``batchmill_job_priority_v1``: the queue row's priority. procrastinate runs the highest
  first, then the oldest; ranking by position within the batch interleaves batches of the
  same priority round-robin, so a small batch submitted behind a huge one starts at once.
- ``rate_limits`` and ``batchmill_rate_acquire_v1``: token buckets (requests, input tokens,
  output tokens per minute) per provider key and model, taken atomically under the row lock
  so no two workers can both take the last unit.
- ``rate_limit_status_v1``: each bucket as of now, for people and metrics.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JOB_PRIORITY_V1 = """
CREATE FUNCTION batchmill_job_priority_v1(p_priority integer, p_position integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    -- Priority classes first; inside a class, the n-th request of every batch before the
    -- (n+1)-th of any (positions stay below 100,000 per batch).
    SELECT p_priority * 1000000 - p_position
$$;
"""

RATE_ACQUIRE_V1 = """
CREATE FUNCTION batchmill_rate_acquire_v1(
    p_scope text, p_model text, p_input double precision, p_output double precision
) RETURNS double precision
LANGUAGE plpgsql AS $$
-- Take one request, p_input input tokens and p_output output tokens from the buckets of
-- (p_scope, p_model), refilled continuously up to one minute's worth. Returns 0 when taken,
-- else the seconds until there will be enough (nothing is taken then). A need larger than a
-- full bucket waits for a full bucket. Without a row there is no known limit: 0.
DECLARE
    b rate_limits%ROWTYPE;
    at timestamptz := clock_timestamp();
    elapsed double precision;
    req double precision;
    inp double precision;
    outp double precision;
    wait double precision := 0;
BEGIN
    SELECT * INTO b FROM rate_limits WHERE scope = p_scope AND model = p_model FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF b.paused_until > at THEN
        UPDATE rate_limits SET waits = waits + 1 WHERE scope = p_scope AND model = p_model;
        RETURN extract(epoch FROM b.paused_until - at);
    END IF;
    elapsed := greatest(0, extract(epoch FROM at - b.refilled_at));
    req := least(b.rpm, b.requests_available + b.rpm * elapsed / 60);
    inp := least(b.itpm, b.input_available + b.itpm * elapsed / 60);
    outp := least(b.otpm, b.output_available + b.otpm * elapsed / 60);
    IF req < 1 THEN
        wait := greatest(wait, (1 - req) * 60 / b.rpm);
    END IF;
    IF inp < least(p_input, b.itpm) THEN
        wait := greatest(wait, (least(p_input, b.itpm) - inp) * 60 / b.itpm);
    END IF;
    IF outp < least(p_output, b.otpm) THEN
        wait := greatest(wait, (least(p_output, b.otpm) - outp) * 60 / b.otpm);
    END IF;
    UPDATE rate_limits
    SET requests_available = coalesce(req - CASE WHEN wait = 0 THEN 1 ELSE 0 END,
                                      requests_available),
        input_available = coalesce(inp - CASE WHEN wait = 0 THEN p_input ELSE 0 END,
                                   input_available),
        output_available = coalesce(outp - CASE WHEN wait = 0 THEN p_output ELSE 0 END,
                                    output_available),
        refilled_at = at,
        granted = granted + CASE WHEN wait = 0 THEN 1 ELSE 0 END,
        waits = waits + CASE WHEN wait = 0 THEN 0 ELSE 1 END
    WHERE scope = p_scope AND model = p_model;
    RETURN wait;
END;
$$;
"""

RATE_LIMIT_STATUS_V1 = """
CREATE VIEW rate_limit_status_v1 AS
SELECT scope, model, source, rpm, itpm, otpm,
       least(rpm, requests_available + rpm * e.elapsed / 60) AS requests_available,
       least(itpm, input_available + itpm * e.elapsed / 60) AS input_tokens_available,
       least(otpm, output_available + otpm * e.elapsed / 60) AS output_tokens_available,
       paused_until > now() AS paused,
       paused_until,
       granted, waits, throttled
FROM rate_limits,
     LATERAL (SELECT greatest(0, extract(epoch FROM now() - refilled_at)) AS elapsed) e;
"""


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("itpm", sa.Integer(), nullable=True),
        sa.Column("otpm", sa.Integer(), nullable=True),
        sa.Column("requests_available", sa.Double(), server_default="0", nullable=False),
        sa.Column("input_available", sa.Double(), server_default="0", nullable=False),
        sa.Column("output_available", sa.Double(), server_default="0", nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.Text(), server_default="config", nullable=False),
        sa.Column("granted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("waits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("throttled", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("rpm > 0 AND itpm > 0 AND otpm > 0",
                           name=op.f("ck_rate_limits_positive")),
        sa.PrimaryKeyConstraint("scope", "model", name=op.f("pk_rate_limits")),
    )
    op.execute(JOB_PRIORITY_V1)
    op.execute(RATE_ACQUIRE_V1)
    op.execute(RATE_LIMIT_STATUS_V1)


def downgrade() -> None:
    op.execute("DROP VIEW rate_limit_status_v1")
    op.execute("DROP FUNCTION batchmill_rate_acquire_v1")
    op.execute("DROP FUNCTION batchmill_job_priority_v1")
    op.drop_table("rate_limits")
