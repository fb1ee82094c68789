"""Migrations: upgrade an empty database, autogenerate finds nothing, and a full
downgrade/upgrade round trip works."""
from __future__ import annotations

import psycopg
import pytest

from app.db import migrate
from app.settings import DatabaseUrl
from tests import postgres

OWN_TABLES = {"tenants", "api_keys", "batches", "requests", "llm_calls", "model_prices"}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def empty_database(postgres_server_url: str):  # type: ignore[no-untyped-def]
    name = postgres.unique_name("batchmill_migrations")
    url = postgres.create_database(postgres_server_url, name)
    yield DatabaseUrl(url)
    postgres.drop_database(postgres_server_url, name)


def test_upgrade_check_downgrade_upgrade(empty_database: DatabaseUrl) -> None:
    url = empty_database
    migrate.upgrade(url)
    present = tables(url.libpq)
    assert OWN_TABLES <= present
    assert {"procrastinate_jobs", "procrastinate_workers"} <= present
    migrate.check(url)  # raises if the models and the schema differ

    migrate.downgrade(url, "base")
    assert tables(url.libpq) == {"alembic_version"}
    with psycopg.connect(url.libpq) as conn:
        leftovers = conn.execute(
            "SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate%'"
            " OR proname LIKE 'batchmill%'").fetchall()
    assert leftovers == []

    migrate.upgrade(url)
    migrate.check(url)
    with psycopg.connect(url.libpq) as conn:
        priced = conn.execute("SELECT count(*) FROM model_prices").fetchone()
    assert priced is not None and priced[0] >= 10
