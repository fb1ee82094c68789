"""The procrastinate 3.10.0 job-queue schema, vendored so this revision never changes.

Upgrading procrastinate means a new revision that applies its migration files from
``procrastinate/sql/migrations`` for the versions in between (pin and test the coupling:
the API inserts queue rows through ``procrastinate_defer_jobs_v1``).

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).resolve().parents[1] / "procrastinate" / "schema-3.10.0.sql"


def _run_script(sql: str) -> None:
    """Run multi-statement SQL on the migration's own psycopg connection (same transaction).

    Without parameters psycopg sends it as a simple query and reads no ``%`` placeholders."""
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _run_script(SCHEMA.read_text())


def downgrade() -> None:
    _run_script(
        """
        DO $$
        DECLARE obj record;
        BEGIN
            FOR obj IN SELECT tablename FROM pg_tables
                       WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%'
            LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', obj.tablename); END LOOP;
            FOR obj IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p
                       JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                               CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, obj.sig);
            END LOOP;
            -- Tables went first, so only enum and standalone composite types are left.
            FOR obj IN SELECT t.typname FROM pg_type t
                       JOIN pg_namespace n ON n.oid = t.typnamespace
                       WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                         AND t.typtype IN ('e', 'c')
            LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', obj.typname); END LOOP;
        END $$;
        """
    )
