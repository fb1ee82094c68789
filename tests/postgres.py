"""Where the tests' Postgres comes from, in order: BATCHMILL_TEST_DATABASE_URL, a
testcontainers Postgres when a Docker engine answers, else an embedded Postgres.

One template database is migrated per session and cloned per test (CREATE DATABASE …
TEMPLATE), so every test starts from a fresh, fully migrated schema in ~100 ms.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from app.db import migrate
from app.settings import DatabaseUrl


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a URL of a server where the tests may create databases."""
    url = os.environ.get("BATCHMILL_TEST_DATABASE_URL")
    if url:
        yield url
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        from app.embedded import embedded_postgres

        with tempfile.TemporaryDirectory(prefix="batchmill-test-pg-") as folder:
            os.chmod(folder, 0o755)  # the embedded server may run as its own system user
            with embedded_postgres(Path(folder), database="postgres") as embedded:
                yield embedded


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    with admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def migrated_template(server_url: str) -> Iterator[str]:
    name = unique_name("batchmill_template")
    url = create_database(server_url, name)
    try:
        migrate.upgrade(DatabaseUrl(url))
        yield name
    finally:
        drop_database(server_url, name)
