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
DEFAULT_SHUTDOWN_GRACE_SECONDS = 30.0
DEFAULT_HEARTBEAT_SECONDS = 10.0
DEFAULT_STALLED_AFTER_SECONDS = 60.0
DEFAULT_WORKER_HTTP_PORT = 9400
DEFAULT_RETRY_BASE_SECONDS = 1.0
DEFAULT_RETRY_MAX_SECONDS = 300.0
DEFAULT_RESCUE_EVERY_SECONDS = 30
DEFAULT_EXPIRE_EVERY_SECONDS = 60
DEFAULT_ARCHIVE_EVERY_SECONDS = 3600
DEFAULT_RETENTION_DAYS = 29.0
DEFAULT_QUEUE_RETENTION_HOURS = 24
DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024  # Anthropic's limit for one batch
DEFAULT_PROVIDER_POLL_SECONDS = 10
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_WEBHOOK_RETRY_BASE_SECONDS = 10.0
DEFAULT_WEBHOOK_GIVE_UP_SECONDS = 24 * 3600.0
DEFAULT_PROVIDER_MAX_REQUESTS = 100_000  # Anthropic's limits for one Message Batch ...
DEFAULT_PROVIDER_MAX_BYTES = 200 * 1024 * 1024  # ... 256 MB, less a margin for the envelope


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    return int(_env(name) or default)


def _float(name: str, default: float) -> float:
    return float(_env(name) or default)


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
    concurrency: int = DEFAULT_WORKER_CONCURRENCY
    """Provider calls in flight per worker process."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Provider calls a request may make before it is errored with the last provider error."""
    retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS
    """Backoff before the 2nd attempt; it doubles per attempt (full jitter), never below the
    provider's retry-after."""
    retry_max_seconds: float = DEFAULT_RETRY_MAX_SECONDS
    """Longest backoff between two attempts."""
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS
    """On SIGTERM/SIGINT: how long in-flight calls may finish; the rest are re-queued."""
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    """How often a worker proves it is alive."""
    stalled_after_seconds: float = DEFAULT_STALLED_AFTER_SECONDS
    """A worker silent this long is dead: its running jobs are retried elsewhere."""
    http_host: str = "127.0.0.1"
    """Where the worker's health (and metrics) port listens; 0.0.0.0 in containers."""
    http_port: int | None = None
    """Its port (``batchmill worker``: 9400 unless set; 0: any free port; None: none, as when
    a worker runs inside another process)."""


@dataclass(frozen=True)
class MaintenanceSettings:
    """Periodic jobs, run by whichever worker picks them up (each once per period)."""

    rescue_every_seconds: int = DEFAULT_RESCUE_EVERY_SECONDS
    """How often jobs of dead workers are looked for and retried."""
    expire_every_seconds: int = DEFAULT_EXPIRE_EVERY_SECONDS
    """How often batches past expires_at are ended with their unfinished requests expired."""
    archive_every_seconds: int = DEFAULT_ARCHIVE_EVERY_SECONDS
    """How often old batches are archived and finished queue rows deleted."""
    retention_days: float = DEFAULT_RETENTION_DAYS
    """Results stay retrievable this long after a batch's creation (Anthropic: 29 days); then
    prompts and outputs are removed, usage and cost kept."""
    queue_retention_hours: int = DEFAULT_QUEUE_RETENTION_HOURS
    """Failed, aborted or cancelled queue rows are deleted after this long."""


@dataclass(frozen=True)
class ProviderBatchSettings:
    """Mode provider_batch: requests go to Claude through Anthropic's Message Batches API."""

    poll_every_seconds: int = DEFAULT_PROVIDER_POLL_SECONDS
    """How often queued requests are gathered and submitted, open provider batches polled,
    cancels sent and ended batches' results recorded (one job does all four)."""
    max_requests: int = DEFAULT_PROVIDER_MAX_REQUESTS
    """Most requests in one provider batch; more are split across several."""
    max_bytes: int = DEFAULT_PROVIDER_MAX_BYTES
    """Most bytes of params in one provider batch."""


@dataclass(frozen=True)
class WebhookSettings:
    """POSTs to a batch's callback_url when it ends, signed with the tenant's secret."""

    allow_private: bool = False
    """Allow callback URLs on loopback, private or link-local addresses (tests, the demo);
    off, such URLs are refused at submission and at delivery (no requests into your network)."""
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    """How long one delivery attempt may take."""
    retry_base_seconds: float = DEFAULT_WEBHOOK_RETRY_BASE_SECONDS
    """Wait before the 2nd attempt; it doubles per attempt (with jitter), up to an hour."""
    give_up_after_seconds: float = DEFAULT_WEBHOOK_GIVE_UP_SECONDS
    """No attempt starts later than this after the batch ended: the event is then failed."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    public_url: str | None = None
    session_secret: str | None = None
    """Signs the dashboard's session and CSRF cookies (any passphrase; replicas share it).
    Unset: a random secret per process, so sessions end when the process does."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    anthropic: AnthropicSettings = field(default_factory=AnthropicSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    provider_batches: ProviderBatchSettings = field(default_factory=ProviderBatchSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    @property
    def database(self) -> DatabaseUrl:
        if not self.database_url:
            raise RuntimeError("BATCHMILL_DATABASE_URL is not set")
        return DatabaseUrl(self.database_url)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_env("BATCHMILL_DATABASE_URL"),
            db_pool_size=_int("BATCHMILL_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE),
            public_url=_env("BATCHMILL_PUBLIC_URL"),
            session_secret=_env("BATCHMILL_SESSION_SECRET"),
            max_body_bytes=_int("BATCHMILL_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            anthropic=AnthropicSettings(
                api_key=_env("ANTHROPIC_API_KEY"),
                base_url=_env("ANTHROPIC_BASE_URL"),
                call_timeout_seconds=_float("BATCHMILL_CALL_TIMEOUT_SECONDS",
                                            DEFAULT_CALL_TIMEOUT_SECONDS),
            ),
            worker=WorkerSettings(
                concurrency=_int("BATCHMILL_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY),
                max_attempts=_int("BATCHMILL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
                retry_base_seconds=_float("BATCHMILL_RETRY_BASE_SECONDS",
                                          DEFAULT_RETRY_BASE_SECONDS),
                retry_max_seconds=_float("BATCHMILL_RETRY_MAX_SECONDS", DEFAULT_RETRY_MAX_SECONDS),
                shutdown_grace_seconds=_float("BATCHMILL_SHUTDOWN_GRACE_SECONDS",
                                              DEFAULT_SHUTDOWN_GRACE_SECONDS),
                heartbeat_seconds=_float("BATCHMILL_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS),
                stalled_after_seconds=_float("BATCHMILL_STALLED_AFTER_SECONDS",
                                             DEFAULT_STALLED_AFTER_SECONDS),
                http_host=_env("BATCHMILL_WORKER_HTTP_HOST") or "127.0.0.1",
                http_port=_int("BATCHMILL_WORKER_HTTP_PORT", DEFAULT_WORKER_HTTP_PORT),
            ),
            maintenance=MaintenanceSettings(
                rescue_every_seconds=_int("BATCHMILL_RESCUE_EVERY_SECONDS",
                                          DEFAULT_RESCUE_EVERY_SECONDS),
                expire_every_seconds=_int("BATCHMILL_EXPIRE_EVERY_SECONDS",
                                          DEFAULT_EXPIRE_EVERY_SECONDS),
                archive_every_seconds=_int("BATCHMILL_ARCHIVE_EVERY_SECONDS",
                                           DEFAULT_ARCHIVE_EVERY_SECONDS),
                retention_days=_float("BATCHMILL_RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
                queue_retention_hours=_int("BATCHMILL_QUEUE_RETENTION_HOURS",
                                           DEFAULT_QUEUE_RETENTION_HOURS),
            ),
            provider_batches=ProviderBatchSettings(
                poll_every_seconds=_int("BATCHMILL_PROVIDER_POLL_SECONDS",
                                        DEFAULT_PROVIDER_POLL_SECONDS),
                max_requests=_int("BATCHMILL_PROVIDER_MAX_REQUESTS",
                                  DEFAULT_PROVIDER_MAX_REQUESTS),
                max_bytes=_int("BATCHMILL_PROVIDER_MAX_BYTES", DEFAULT_PROVIDER_MAX_BYTES),
            ),
            webhooks=WebhookSettings(
                allow_private=_env("BATCHMILL_WEBHOOK_ALLOW_PRIVATE") in ("1", "true", "yes"),
                timeout_seconds=_float("BATCHMILL_WEBHOOK_TIMEOUT_SECONDS",
                                       DEFAULT_WEBHOOK_TIMEOUT_SECONDS),
                retry_base_seconds=_float("BATCHMILL_WEBHOOK_RETRY_BASE_SECONDS",
                                          DEFAULT_WEBHOOK_RETRY_BASE_SECONDS),
                give_up_after_seconds=_float("BATCHMILL_WEBHOOK_GIVE_UP_SECONDS",
                                             DEFAULT_WEBHOOK_GIVE_UP_SECONDS),
            ),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings.from_env()
