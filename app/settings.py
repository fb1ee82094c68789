"""Typed settings read once from the environment (``BATCHMILL_*`` plus the SDK's own variables).

Only the two composition roots (the API app factory and the worker App) and the CLI read them.
Every setting has a safe default so ``batchmill demo`` runs with nothing configured.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

DEFAULT_WORKER_CONCURRENCY = 16
DEFAULT_CALL_TIMEOUT_SECONDS = 600.0
DEFAULT_DB_POOL_SIZE = 10
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024  # Anthropic's limit for one batch


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class DatabaseUrl:
    """One plain ``postgresql://`` URL; each driver derives the form it needs from it."""

    url: str

    def __post_init__(self) -> None:
        scheme = urlsplit(self.url).scheme
        if scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(f"database URL must start with postgresql://, got {scheme}://")

    @property
    def libpq(self) -> str:
        """For psycopg/procrastinate and libpq tools: no SQLAlchemy driver suffix."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(scheme="postgresql"))

    @property
    def asyncpg(self) -> str:
        """For the SQLAlchemy async engine."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))

    @property
    def psycopg(self) -> str:
        """For synchronous SQLAlchemy (Alembic runs multi-statement SQL through psycopg)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


@dataclass(frozen=True)
class AnthropicSettings:
    """Where Claude is reached. ``api_key`` unset means: use the built-in simulator."""

    api_key: str | None = None
    base_url: str | None = None
    call_timeout_seconds: float = DEFAULT_CALL_TIMEOUT_SECONDS


@dataclass(frozen=True)
class WorkerSettings:
    """``concurrency``: provider calls in flight per worker process. ``max_attempts``: provider
    calls a request may make before it is errored with the last provider error."""

    concurrency: int = DEFAULT_WORKER_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    public_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    anthropic: AnthropicSettings = field(default_factory=AnthropicSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def database(self) -> DatabaseUrl:
        if not self.database_url:
            raise RuntimeError("BATCHMILL_DATABASE_URL is not set")
        return DatabaseUrl(self.database_url)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_env("BATCHMILL_DATABASE_URL"),
            db_pool_size=int(_env("BATCHMILL_DB_POOL_SIZE", str(DEFAULT_DB_POOL_SIZE))),
            public_url=_env("BATCHMILL_PUBLIC_URL"),
            max_body_bytes=int(_env("BATCHMILL_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
            anthropic=AnthropicSettings(
                api_key=_env("ANTHROPIC_API_KEY"),
                base_url=_env("ANTHROPIC_BASE_URL"),
                call_timeout_seconds=float(
                    _env("BATCHMILL_CALL_TIMEOUT_SECONDS", str(DEFAULT_CALL_TIMEOUT_SECONDS))
                ),
            ),
            worker=WorkerSettings(
                concurrency=int(
                    _env("BATCHMILL_WORKER_CONCURRENCY", str(DEFAULT_WORKER_CONCURRENCY))
                ),
                max_attempts=int(_env("BATCHMILL_MAX_ATTEMPTS", str(DEFAULT_MAX_ATTEMPTS))),
            ),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings.from_env()
