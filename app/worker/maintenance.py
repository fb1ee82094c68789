"""Periodic maintenance, as procrastinate periodic tasks: each runs once per period across
the whole fleet (procrastinate records each deferral), on whichever worker picks it up.

- rescue:  jobs of workers that stopped heartbeating are retried (a killed worker loses nothing);
- expire:  batches past ``expires_at`` end, their unfinished requests ``expired``;
- archive: batches past retention lose prompts and outputs (usage and cost stay); finished
           queue rows are deleted so tables do not grow without bound.
"""
from __future__ import annotations

import datetime as dt
import logging

import procrastinate
from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics
from app.settings import MaintenanceSettings, WorkerSettings
from app.sql import queries

log = logging.getLogger("batchmill.maintenance")

QUEUE = "maintenance"
BATCHES_PER_RUN = 100


def cron_every(seconds: int) -> str:
    """A procrastinate cron for "every ``seconds``" (seconds are its optional 6th field)."""
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    if seconds < 3600:
        return f"*/{seconds // 60} * * * *"
    return f"0 */{seconds // 3600} * * *"


def register(app: procrastinate.App, engine: AsyncEngine, worker: WorkerSettings,
             config: MaintenanceSettings) -> None:
    @app.periodic(cron=cron_every(config.rescue_every_seconds), periodic_id="rescue")
    @app.task(name="batchmill.rescue_stalled_jobs", queue=QUEUE, pass_context=True)
    async def rescue_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
        manager = context.app.job_manager
        stalled = list(await manager.get_stalled_jobs(
            seconds_since_heartbeat=worker.stalled_after_seconds))
        retried = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
                retried += 1
            except procrastinate.exceptions.ProcrastinateException:  # one must not stop the rest
                log.exception("could not retry job %s of a dead worker", job.id)
        if stalled:
            log.warning("retried %d of %d jobs of dead workers", retried, len(stalled))
        return retried

    @app.periodic(cron=cron_every(config.expire_every_seconds), periodic_id="expire")
    @app.task(name="batchmill.expire_batches", queue=QUEUE)
    async def expire_batches(timestamp: int) -> int:
        return await _repeat(engine, "batches_expire", {})

    @app.periodic(cron=cron_every(config.archive_every_seconds), periodic_id="archive")
    @app.task(name="batchmill.archive_batches", queue=QUEUE, pass_context=True)
    async def archive_batches(context: procrastinate.JobContext, timestamp: int) -> int:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=config.retention_days)
        archived = await _repeat(engine, "batches_archive", {"before": before})
        await context.app.job_manager.delete_old_jobs(
            nb_hours=config.queue_retention_hours, include_failed=True,
            include_cancelled=True, include_aborted=True)
        return archived


async def _repeat(engine: AsyncEngine, query: str, params: dict[str, object]) -> int:
    """Run a bounded maintenance statement until it has nothing left, one transaction each."""
    total = 0
    while True:
        async with engine.begin() as conn:
            rows = (await conn.execute(queries[query],
                                       {**params, "limit": BATCHES_PER_RUN})).all()
        done = len(rows)
        expired = sum(getattr(row, "expired", 0) for row in rows)
        if expired:
            metrics.REQUESTS_FINISHED.labels("expired").inc(expired)
        total += done
        if done:
            log.info("%s: %d batches", query, done)
        if done < BATCHES_PER_RUN:
            return total
