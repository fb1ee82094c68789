"""Recording is idempotent: a stale or repeated attempt never records twice, and every
provider call is logged whether or not its outcome was recorded."""
from __future__ import annotations

import datetime as dt

import anthropic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.llm.client import call_messages
from app.llm.outcome import CallError, CallOutcome, Usage
from app.settings import WorkerSettings
from app.worker import requests as worker
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests

STATE = text(
    "SELECT r.status, r.attempts, b.processing_count, b.succeeded_count, b.errored_count,"
    "       b.ended_at IS NOT NULL AS ended,"
    "       (SELECT count(*) FROM llm_calls c WHERE c.request_id = r.id"
    "         AND c.finished_at IS NOT NULL) AS calls"
    " FROM requests r JOIN batches b ON b.id = r.batch_id WHERE r.id = :id"
)


async def _one_request(stack: Stack) -> int:
    batch = await stack.client().messages.batches.create(
        requests=summarise_requests(1))  # type: ignore[arg-type]
    async with stack.engine.connect() as conn:
        return (await conn.execute(text("SELECT id FROM requests WHERE batch_id = :b"),
                                   {"b": batch.id})).scalar_one()


async def _state(engine: AsyncEngine, request_id: int) -> dict[str, object]:
    async with engine.connect() as conn:
        return dict((await conn.execute(STATE, {"id": request_id})).mappings().one())


def _simulator_call(stack: Stack):  # type: ignore[no-untyped-def]
    client = anthropic.AsyncAnthropic(api_key="k", base_url=stack.settings.anthropic.base_url,
                                      max_retries=0)
    return lambda params: call_messages(client, params)


async def test_rerun_of_a_finished_request_records_nothing(stack: Stack) -> None:
    request_id = await _one_request(stack)
    call = _simulator_call(stack)
    await worker.process_request(stack.engine, call, request_id, policy=WorkerSettings(max_attempts=3))
    first = await _state(stack.engine, request_id)
    assert first == {"status": "succeeded", "attempts": 1, "processing_count": 0,
                     "succeeded_count": 1, "errored_count": 0, "ended": True, "calls": 1}
    # The same job run again (a crash after commit, before procrastinate marked it done).
    await worker.process_request(stack.engine, call, request_id, policy=WorkerSettings(max_attempts=3))
    assert await _state(stack.engine, request_id) == first


async def test_stale_attempt_cannot_overwrite_a_newer_one(stack: Stack) -> None:
    request_id = await _one_request(stack)
    call = _simulator_call(stack)
    stale = await worker.claim(stack.engine, request_id)   # a worker that then hangs ...
    current = await worker.claim(stack.engine, request_id)  # ... and the attempt that replaced it
    assert stale is not None and current is not None
    assert (stale.attempt, current.attempt) == (1, 2)

    outcome = await call(stale.params)
    async with stack.engine.begin() as conn:
        await worker.record_call(conn, stale, outcome)
        assert await worker.finish(conn, stale, status="succeeded", result=outcome.message,
                                   outcome=outcome) is False
    state = await _state(stack.engine, request_id)
    assert state["status"] == "running" and state["calls"] == 1  # the spend is still logged
    async with stack.engine.connect() as conn:
        in_flight = (await conn.execute(text(
            "SELECT attempt FROM llm_calls WHERE request_id = :id AND finished_at IS NULL"),
            {"id": request_id})).scalars().all()
    assert in_flight == [2]  # the newer attempt's call is logged before it goes out

    outcome = await call(current.params)
    async with stack.engine.begin() as conn:
        await worker.record_call(conn, current, outcome)
        assert await worker.finish(conn, current, status="succeeded", result=outcome.message,
                                   outcome=outcome) is True
    assert await _state(stack.engine, request_id) == {
        "status": "succeeded", "attempts": 2, "processing_count": 0, "succeeded_count": 1,
        "errored_count": 0, "ended": True, "calls": 2}


async def test_final_provider_error_errors_the_request_after_one_call(stack: Stack) -> None:
    request_id = await _one_request(stack)
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}

    async def rejected(params: dict[str, object]) -> CallOutcome:
        return CallOutcome(model="claude-haiku-4-5", started_at=dt.datetime.now(dt.UTC),
                           latency_seconds=0.01, http_status=400, provider_request_id="req_x",
                           error=CallError("invalid_request_error", "bad", retryable=False,
                                           body=body))

    await worker.process_request(stack.engine, rejected, request_id, policy=WorkerSettings(max_attempts=8))
    state = await _state(stack.engine, request_id)
    assert state["status"] == "errored" and state["calls"] == 1 and state["ended"] is True
    async with stack.engine.connect() as conn:
        error, cost = (await conn.execute(text(
            "SELECT r.error, c.cost FROM requests r JOIN llm_calls c ON c.request_id = r.id"
            " WHERE r.id = :id"), {"id": request_id})).one()
    assert error == body
    assert cost == 0  # a rejected call used no tokens: priced, and free


async def test_retryable_error_requeues_with_backoff_until_the_budget(stack: Stack) -> None:
    request_id = await _one_request(stack)

    async def overloaded(params: dict[str, object]) -> CallOutcome:
        return CallOutcome(model="claude-haiku-4-5", started_at=dt.datetime.now(dt.UTC),
                           latency_seconds=0.01, http_status=529, provider_request_id=None,
                           usage=Usage(),
                           error=CallError("overloaded_error", "Overloaded", retryable=True,
                                           retry_after_seconds=30,
                                           body={"type": "error", "error": {
                                               "type": "overloaded_error",
                                               "message": "Overloaded"}}))

    await worker.process_request(stack.engine, overloaded, request_id, policy=WorkerSettings(max_attempts=2))
    async with stack.engine.connect() as conn:
        status, scheduled = (await conn.execute(text(
            "SELECT r.status, max(j.scheduled_at) - now() FROM requests r"
            " JOIN procrastinate_jobs j ON (j.args ->> 'request_id')::bigint = r.id"
            " WHERE r.id = :id GROUP BY r.status"), {"id": request_id})).one()
    assert status == "queued"
    assert scheduled >= dt.timedelta(seconds=29)  # retry-after is honoured

    await worker.process_request(stack.engine, overloaded, request_id, policy=WorkerSettings(max_attempts=2))
    state = await _state(stack.engine, request_id)
    assert state["status"] == "errored" and state["attempts"] == 2 and state["calls"] == 2
