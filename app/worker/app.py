"""The worker's composition root: the procrastinate App, its tasks and their dependencies."""
from __future__ import annotations

import functools

import procrastinate
from sqlalchemy.ext.asyncio import AsyncEngine

from app import queue
from app.db.engine import create_engine
from app.llm.client import call_messages, create_client
from app.settings import Settings
from app.worker import maintenance
from app.worker.requests import process_request

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
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=settings.database.libpq,
            kwargs={"application_name": "batchmill-worker"},
            min_size=1,
            max_size=max(4, settings.db_pool_size),
        )
    )

    @app.task(name=queue.PROCESS_REQUEST, queue=queue.QUEUE, retry=JOB_RETRY)
    async def run_request(request_id: int, batch_id: str | None = None) -> None:
        await process_request(engine, call, request_id, settings.worker)

    maintenance.register(app, engine, settings.worker, settings.maintenance)
    return app


async def run_worker(settings: Settings, *, concurrency: int | None = None, wait: bool = True,
                     install_signal_handlers: bool = True) -> None:
    """Run until stopped (SIGINT/SIGTERM or cancellation, both graceful) or, with
    ``wait=False``, until the queue is empty."""
    engine = create_engine(settings.database, pool_size=settings.db_pool_size)
    app = create_worker_app(settings, engine)
    worker = settings.worker
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=[queue.QUEUE, maintenance.QUEUE],
                concurrency=concurrency or worker.concurrency,
                wait=wait,
                delete_jobs="successful",
                install_signal_handlers=install_signal_handlers,
                shutdown_graceful_timeout=worker.shutdown_grace_seconds,
                update_heartbeat_interval=worker.heartbeat_seconds,
                stalled_worker_timeout=worker.stalled_after_seconds,
            )
    finally:
        await engine.dispose()
