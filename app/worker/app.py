"""The worker's composition root: the procrastinate App, its tasks and their dependencies."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from sqlalchemy.ext.asyncio import AsyncEngine

from app import queue
from app.db.engine import create_engine
from app.llm.client import call_messages, create_client
from app.llm.rate_limiter import RateLimiter
from app.settings import Settings
from app.worker import maintenance, provider_batches, webhooks
from app.worker.health import Liveness, probe, serve_health
from app.worker.requests import process_request

log = logging.getLogger("batchmill.worker")

RESTART_MAX_SECONDS = 30
"""Longest pause before a worker that lost the database tries again (doubling from 1 s)."""
RESTART_RESET_SECONDS = 60
"""A run that lasted this long before failing starts the backoff afresh."""

# Infrastructure failures (database unreachable, a bug) fail the job; procrastinate runs it
# again, and the request's own guards keep that from recording anything twice. Cancellation
# (shutdown past its grace period) is not retried here: the task hands the request back itself.
JOB_RETRY = procrastinate.RetryStrategy(max_attempts=20, exponential_wait=2,
                                        retry_exceptions=[Exception])


def create_worker_app(settings: Settings, engine: AsyncEngine) -> procrastinate.App:
    api_key = settings.anthropic.api_key
    if not api_key:
        raise RuntimeError("ANTHROPIC_API_KEY is not set (the demo starts a simulator for you)")
    client = create_client(api_key=api_key, base_url=settings.anthropic.base_url,
                           timeout_seconds=settings.anthropic.call_timeout_seconds)
    call = functools.partial(call_messages, client)
    limiter = RateLimiter(engine, api_key)
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=settings.database.libpq,
            # enable_sort=off: procrastinate's fetch must walk its priority index in order.
            # A queue refilled after being analyzed empty (every drain) has no statistics, and
            # the planner would sort every queued job on each fetch (30 ms at 20,000 jobs).
            kwargs={"application_name": "batchmill-worker", "options": "-c enable_sort=off"},
            min_size=1,
            max_size=max(4, settings.db_pool_size),
        )
    )

    @app.task(name=queue.PROCESS_REQUEST, queue=queue.QUEUE, retry=JOB_RETRY)
    async def run_request(request_id: int, batch_id: str | None = None) -> None:
        await process_request(engine, call, request_id, settings.worker, limiter)

    maintenance.register(app, engine, settings.worker, settings.maintenance)
    provider_batches.register(app, engine, client, settings.provider_batches)
    webhooks.register(app, engine, settings.webhooks, settings.public_url)
    return app


async def run_worker(settings: Settings, *, concurrency: int | None = None, wait: bool = True,
                     install_signal_handlers: bool = True) -> None:
    """Run until stopped (SIGINT/SIGTERM or cancellation, both graceful) or, with
    ``wait=False``, until the queue is empty.

    Losing the database does not end the process: procrastinate's worker stops (or fails)
    when Postgres goes away, and is started again once Postgres answers; the jobs it had
    running are rescued as stalled. Signals are handled here, not by procrastinate, to tell
    a requested stop from one procrastinate made by itself."""
    engine = create_engine(settings.database, pool_size=settings.db_pool_size)
    stop = asyncio.Event()
    worker = settings.worker
    liveness = Liveness(stuck_after_seconds=worker.stalled_after_seconds)
    health = (asyncio.create_task(serve_health(liveness, worker.http_host, worker.http_port))
              if worker.http_port is not None else None)
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    failures = 0
    try:
        while True:
            started = time.monotonic()
            liveness.beat()
            error = await _run_once(create_worker_app(settings, engine), settings,
                                    concurrency=concurrency, wait=wait, stop=stop,
                                    liveness=liveness)
            if stop.is_set() or not wait:
                return
            failures = 1 if time.monotonic() - started > RESTART_RESET_SECONDS else failures + 1
            delay = min(RESTART_MAX_SECONDS, 2 ** (failures - 1))
            log.warning("worker stopped (%s); starting again in %.0f s", error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
    finally:
        if health is not None:
            health.cancel()
            await asyncio.gather(health, return_exceptions=True)
        if install_signal_handlers:
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().remove_signal_handler(signum)
        await engine.dispose()


async def _run_once(app: procrastinate.App, settings: Settings, *, concurrency: int | None,
                    wait: bool, stop: asyncio.Event, liveness: Liveness) -> str:
    """One procrastinate worker run; returns why it ended when nobody asked it to."""
    worker = settings.worker
    options = {
        "queues": [queue.QUEUE, maintenance.QUEUE, webhooks.QUEUE],
        "concurrency": concurrency or worker.concurrency,
        "wait": wait,
        "delete_jobs": "successful",
        "install_signal_handlers": False,
        "shutdown_graceful_timeout": worker.shutdown_grace_seconds,
        "update_heartbeat_interval": worker.heartbeat_seconds,
        "stalled_worker_timeout": worker.stalled_after_seconds,
    }
    try:
        async with app.open_async():
            run = asyncio.create_task(app.run_worker_async(**options))
            stopped = asyncio.create_task(stop.wait())
            probing = asyncio.create_task(probe(app, liveness, worker.heartbeat_seconds))
            try:
                await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not run.done():
                    run.cancel()  # procrastinate turns this into a graceful shutdown
                stopped.cancel()
                probing.cancel()
                await asyncio.gather(run, stopped, probing, return_exceptions=True)
            if not run.cancelled() and run.exception() is not None:
                raise run.exception()  # type: ignore[misc]
    except (ConnectorException, psycopg.OperationalError, OSError) as exc:
        return str(exc).strip() or type(exc).__name__
    return "it stopped by itself (lost the database?)"
