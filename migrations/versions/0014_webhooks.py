"""Webhooks: a signing secret per tenant, an event per ended batch with a callback_url (made by a
trigger in the transaction that ends the batch, with its delivery job), and every delivery
attempt. Also queue depth, for KEDA's query and the metrics: ``queue_depth_v1`` (jobs per
queue and state: runnable, scheduled for later, running) over a partial index.

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WEBHOOK_SECRET_SQL = ("'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, "
                      "'-', '')")

BATCH_ENDED = """
CREATE FUNCTION batchmill_batch_ended_v1() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO webhook_events (id, batch_id, tenant_id, url)
    VALUES (event_id, NEW.id, NEW.tenant_id, NEW.callback_url);
    PERFORM procrastinate_defer_jobs_v1(ARRAY[
        ROW('webhooks', 'batchmill.deliver_webhook', 0, NULL, NULL,
            jsonb_build_object('event_id', event_id), NULL)::procrastinate_job_to_defer_v1]);
    RETURN NULL;
END
$$;
CREATE TRIGGER batchmill_batch_ended_v1 AFTER UPDATE OF ended_at ON batches FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION batchmill_batch_ended_v1();
CREATE TRIGGER batchmill_batch_ended_at_insert_v1 AFTER INSERT ON batches FOR EACH ROW
    WHEN (NEW.ended_at IS NOT NULL AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION batchmill_batch_ended_v1();
"""

QUEUE_DEPTH = """
CREATE VIEW queue_depth_v1 AS
SELECT queue_name,
       CASE WHEN status = 'doing' THEN 'running'
            WHEN scheduled_at IS NULL OR scheduled_at <= now() THEN 'runnable'
            ELSE 'scheduled' END AS state,
       count(*) AS jobs
FROM procrastinate_jobs
WHERE status IN ('todo', 'doing')
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.add_column("tenants", sa.Column("webhook_secret", sa.Text(),
                                       server_default=sa.text(WEBHOOK_SECRET_SQL), nullable=False))
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Text(collation="C"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name=op.f("ck_webhook_events_status")),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"],
                                name=op.f("fk_webhook_events_batch_id_batches"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_webhook_events_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index(op.f("ix_webhook_events_batch_id"), "webhook_events", ["batch_id"])
    op.create_index("ix_webhook_events_tenant_id_created_at", "webhook_events",
                    ["tenant_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_seconds", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"],
                                name=op.f("fk_webhook_attempts_event_id_webhook_events"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "attempt", name=op.f("pk_webhook_attempts")),
    )
    op.execute(BATCH_ENDED)
    op.execute("CREATE INDEX batchmill_jobs_runnable_v1 ON procrastinate_jobs (queue_name, status)"
               " WHERE status IN ('todo', 'doing')")
    op.execute(QUEUE_DEPTH)


def downgrade() -> None:
    op.execute("DROP VIEW queue_depth_v1")
    op.execute("DROP INDEX batchmill_jobs_runnable_v1")
    op.execute("DROP TRIGGER batchmill_batch_ended_at_insert_v1 ON batches")
    op.execute("DROP TRIGGER batchmill_batch_ended_v1 ON batches")
    op.execute("DROP FUNCTION batchmill_batch_ended_v1()")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_events_tenant_id_created_at", table_name="webhook_events")
    op.drop_index(op.f("ix_webhook_events_batch_id"), table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_column("tenants", "webhook_secret")
