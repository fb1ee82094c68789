"""Run one request: claim it, call Claude, record the outcome — in that order, each step
idempotent, so a re-run after a crash never records twice (a repeated provider call is still
logged in llm_calls: it is real money)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import budgets, logs, metrics, queue
from app.llm.backoff import retry_delay
from app.llm.outcome import CallOutcome
from app.llm.rate_limiter import Need, RateLimiter, estimate_need
from app.settings import WorkerSettings
from app.sql import queries

log = logging.getLogger("batchmill.worker")

CallFn = Callable[[dict[str, Any]], Awaitable[CallOutcome]]

MAX_INLINE_WAIT_SECONDS = 1.0
"""A rate-limit wait up to this long is slept in the worker slot; a longer one reschedules."""
INLINE_WAITS = 3


@dataclass(frozen=True)
class Claim:
    request_id: int
    batch_id: str
    tenant_id: int
    attempt: int
    params: dict[str, Any]
    budgeted: bool = False
    queued_at: dt.datetime | None = None


async def claim(engine: AsyncEngine, request_id: int) -> Claim | None:
    """Start the next attempt; None when the request is already terminal (done or canceled).
    One statement, so it runs in autocommit: one round trip."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (await conn.execute(queries["request_claim"], {"request_id": request_id})).first()
    if row is None:
        return None
    return Claim(row.id, row.batch_id, row.tenant_id, row.attempt, row.params, row.budgeted,
                 row.queued_at)


async def record_call(conn: AsyncConnection, claim: Claim, outcome: CallOutcome) -> Any:
    usage = outcome.usage
    return (
        await conn.execute(
            queries["llm_call_record"],
            {
                "request_id": claim.request_id,
                "attempt": claim.attempt,
                "model": outcome.model,
                "via_provider_batch": False,
                "started_at": outcome.started_at,
                "latency_seconds": round(outcome.latency_seconds, 6),
                "http_status": outcome.http_status,
                "error_type": outcome.error.error_type if outcome.error else None,
                "provider_request_id": outcome.provider_request_id,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_creation_5m_tokens": usage.cache_creation_5m_tokens,
                "cache_creation_1h_tokens": usage.cache_creation_1h_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
            },
        )
    ).scalar_one()


async def finish(conn: AsyncConnection, claim: Claim, *, status: str, result: Any = None,
                 error: Any = None, outcome: CallOutcome | None = None, cost: Any = None) -> bool:
    """Make attempt ``claim.attempt`` terminal; True if this ended the batch."""
    usage = outcome.usage if outcome else None
    encode = msgspec.json.encode
    row = (
        await conn.execute(
            queries["request_finish"],
            {
                "request_id": claim.request_id,
                "attempt": claim.attempt,
                "status": status,
                "result": None if result is None else encode(result).decode(),
                "error": None if error is None else encode(error).decode(),
                "input_tokens": usage.input_tokens if usage else None,
                "output_tokens": usage.output_tokens if usage else None,
                "cache_creation_input_tokens": usage.cache_creation_tokens if usage else None,
                "cache_read_input_tokens": usage.cache_read_tokens if usage else None,
                "cost": cost,
            },
        )
    ).first()
    if row is None:
        log.info("stale attempt %s of request %s: already recorded", claim.attempt, claim.request_id)
        return False
    metrics.REQUESTS_FINISHED.labels(status).inc()
    return bool(row.batch_ended)


async def return_to_queue(conn: AsyncConnection, claim: Claim, *,
                          run_at: dt.datetime | None = None, refund_attempt: bool = False) -> None:
    """Put the attempt back in the queue (see ``request_return``)."""
    await conn.execute(queries["request_return"], {
        "request_id": claim.request_id, "attempt": claim.attempt, "run_at": run_at,
        "refund_attempt": refund_attempt, "queue": queue.QUEUE, "task": queue.PROCESS_REQUEST})


def _in(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


async def _admit(limiter: RateLimiter, model: str, need: Need) -> float:
    """Take rate-limit capacity, waiting in the worker slot only for short waits; returns the
    remaining wait (0.0 once admitted)."""
    for _ in range(INLINE_WAITS):
        wait = await limiter.acquire(model, need)
        if wait > 0:
            metrics.LIMITER_WAITS.labels(model).inc()
        if wait == 0 or wait > MAX_INLINE_WAIT_SECONDS:
            return wait
        await asyncio.sleep(wait)
    return await limiter.acquire(model, need)


async def process_request(engine: AsyncEngine, call: CallFn, request_id: int,
                          policy: WorkerSettings, limiter: RateLimiter | None = None) -> None:
    """The whole life of one attempt. The call and everything it cost are recorded in one
    transaction with the request's new state."""
    current = await claim(engine, request_id)
    if current is None:
        return
    if current.attempt == 1 and current.queued_at is not None:
        metrics.QUEUE_WAIT.observe((dt.datetime.now(dt.UTC) - current.queued_at).total_seconds())
    with logs.bound(batch_id=current.batch_id, request_id=current.request_id,
                    attempt=current.attempt):
        await _attempt(engine, call, current, policy, limiter)


async def _attempt(engine: AsyncEngine, call: CallFn, current: Claim, policy: WorkerSettings,
                   limiter: RateLimiter | None) -> None:
    model = str(current.params["model"])
    need = estimate_need(current.params)
    reservation: budgets.Reservation | None = None
    try:
        wait = await _admit(limiter, model, need) if limiter else 0.0
        if wait > 0:
            # Held back by the rate limit: not an attempt, and no slot held while waiting.
            async with engine.begin() as conn:
                await return_to_queue(conn, current, run_at=_in(wait), refund_attempt=True)
            return
        if current.budgeted:
            async with engine.begin() as conn:
                reservation = await budgets.reserve(conn, current.tenant_id, model, need)
                if reservation is None:  # over budget: errored, and never sent
                    await conn.execute(queries["llm_call_discard"], {
                        "request_id": current.request_id, "attempt": current.attempt})
                    if await finish(conn, current, status="errored",
                                    error=budgets.exhausted(model)):
                        log.info("batch %s ended", current.batch_id)
                    return
        outcome = await call(current.params)
    except asyncio.CancelledError:
        # Shutdown past its grace period: the request must not stay 'running' with no job.
        async def give_back() -> None:
            async with engine.begin() as conn:
                await return_to_queue(conn, current)
                if reservation is not None:
                    await budgets.settle(conn, reservation, None)

        await asyncio.shield(give_back())
        raise
    async with engine.begin() as conn:
        cost = await record_call(conn, current, outcome)
        if cost is None and outcome.error is None:
            log.warning("no price for model %s: the call's cost is recorded as unknown (NULL); "
                        "add one with `batchmill prices set`", outcome.model)
        if reservation is not None:
            await budgets.settle(conn, reservation, cost)
        error = outcome.error
        if error is None:
            ended = await finish(conn, current, status="succeeded", result=outcome.message,
                                 outcome=outcome, cost=cost)
        elif error.retryable and current.attempt < policy.max_attempts:
            delay = retry_delay(current.attempt, error.retry_after_seconds,
                                base=policy.retry_base_seconds, cap=policy.retry_max_seconds)
            await return_to_queue(conn, current, run_at=_in(delay))
            ended = False
        else:
            ended = await finish(conn, current, status="errored", error=error.body,
                                 outcome=outcome, cost=cost)
    metrics.observe_call(outcome, cost)
    if limiter:
        try:
            await limiter.observe(model, need, outcome)
        except Exception:  # the outcome is recorded; bookkeeping must not re-run the job
            log.exception("rate limiter could not learn from a %s call", model)
    if ended:
        log.info("batch %s ended", current.batch_id)
