"""Alembic driven from code (no alembic.ini): ``batchmill migrate`` and the tests use this."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.settings import DatabaseUrl

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: DatabaseUrl) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic runs through psycopg: the procrastinate schema is multi-statement SQL.
    config.set_main_option("sqlalchemy.url", url.psycopg.replace("%", "%%"))
    return config


def upgrade(url: DatabaseUrl, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: DatabaseUrl, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: DatabaseUrl) -> None:
    """Raise if the ORM models and the migrated schema differ."""
    command.check(alembic_config(url))
