"""Shared fixtures: a real Postgres (cloned per test), the Claude simulator over real HTTP,
and an in-process Batchmill stack (API + worker) for integration tests."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anthropic
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.app import serve as serve_api
from app.db.engine import create_engine
from app.keys import create_key
from app.serving import base_url, loopback_socket
from app.settings import AnthropicSettings, DatabaseUrl, Settings, WebhookSettings, WorkerSettings
from app.simulator import SimulatorConfig
from app.simulator import serve as serve_simulator
from app.worker.app import run_worker
from tests import postgres


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def template_database(postgres_server_url: str) -> Iterator[str]:
    with postgres.migrated_template(postgres_server_url) as name:
        yield name


@pytest.fixture
def database_url(postgres_server_url: str, template_database: str) -> Iterator[DatabaseUrl]:
    """A fresh, migrated database for this test only."""
    name = postgres.unique_name("batchmill_test")
    url = postgres.create_database(postgres_server_url, name, template=template_database)
    try:
        yield DatabaseUrl(url)
    finally:
        postgres.drop_database(postgres_server_url, name)


@pytest.fixture
async def engine(database_url: DatabaseUrl) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_simulator(config: SimulatorConfig) -> AsyncIterator[str]:
    """A Claude simulator with ``config`` in this event loop; yields its base URL."""
    sock = loopback_socket()
    task = asyncio.create_task(serve_simulator(config, sockets=[sock]))
    await asyncio.sleep(0.1)
    try:
        yield base_url(sock)
    finally:
        await _stop(task)


@pytest.fixture(scope="session")
async def simulator_url() -> AsyncIterator[str]:
    """The Claude simulator, at zero latency, for the whole session."""
    async with running_simulator(SimulatorConfig()) as url:
        yield url


@dataclass
class Stack:
    """A Batchmill API and, once started, a worker, over a test database."""

    settings: Settings
    engine: AsyncEngine
    api_url: str
    api_key: str
    worker_task: asyncio.Task[None] | None = None

    def client(self, **kwargs: object) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.api_url, api_key=self.api_key,
                                        max_retries=0, **kwargs)  # type: ignore[arg-type]

    def use_simulator(self, url: str, *, call_timeout_seconds: float = 10,
                      worker: WorkerSettings | None = None) -> None:
        """Point this stack's workers at another simulator (and worker policy)."""
        self.settings = dataclasses.replace(
            self.settings,
            anthropic=AnthropicSettings(api_key="test-key", base_url=url,
                                        call_timeout_seconds=call_timeout_seconds),
            worker=worker or self.settings.worker)

    def start_worker(self, concurrency: int = 8) -> None:
        self.worker_task = asyncio.create_task(
            run_worker(self.settings, concurrency=concurrency, install_signal_handlers=False))

    async def stop_worker(self) -> None:
        if self.worker_task is not None:
            await _stop(self.worker_task)
            self.worker_task = None


@pytest.fixture
async def stack(database_url: DatabaseUrl, engine: AsyncEngine,
                simulator_url: str) -> AsyncIterator[Stack]:
    """The API serving on a free port over this test's database; call ``start_worker()``."""
    settings = Settings(
        database_url=database_url.url,
        db_pool_size=5,
        anthropic=AnthropicSettings(api_key="test-key", base_url=simulator_url,
                                    call_timeout_seconds=30),
        worker=WorkerSettings(concurrency=8),
        # Test receivers listen on loopback; test_webhooks checks the refusal by default.
        webhooks=WebhookSettings(allow_private=True, retry_base_seconds=0.1),
    )
    async with engine.begin() as conn:
        key = await create_key(conn, "tenant-a")
    sock = loopback_socket()
    api = asyncio.create_task(serve_api(settings, engine=engine, sockets=[sock]))
    await asyncio.sleep(0.05)
    stack = Stack(settings=settings, engine=engine, api_url=base_url(sock), api_key=key)
    yield stack
    await stack.stop_worker()
    await _stop(api)

