"""Against a simulator that misbehaves like the real API, every request still ends in exactly
one terminal state: transient failures are retried (honouring retry-after) within the attempt
budget, final 4xx errors are recorded after exactly one call."""
from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from app.settings import WorkerSettings
from app.simulator import SimulatorConfig
from tests.conftest import Stack, running_simulator
from tests.integration.helpers import summarise_requests, wait_until_ended

BUDGET = 8


@pytest.fixture
async def faulty_simulator() -> AsyncIterator[str]:
    config = SimulatorConfig(latency_seconds=0.01, seed=7, rate_529=0.10, rate_500=0.05,
                             rate_429=0.05, rate_slow=0.02, retry_after_seconds=1,
                             slow_seconds=3)
    async with running_simulator(config) as url:
        yield url


def use(stack: Stack, simulator: str) -> None:
    stack.use_simulator(simulator, call_timeout_seconds=1, worker=WorkerSettings(
        concurrency=32, max_attempts=BUDGET, retry_base_seconds=0.05, retry_max_seconds=1))


async def test_fault_run_every_request_succeeds_within_budget(stack: Stack,
                                                              faulty_simulator: str) -> None:
    use(stack, faulty_simulator)
    client = stack.client()
    created = await client.messages.batches.create(
        requests=summarise_requests(500))  # type: ignore[arg-type]
    stack.start_worker(concurrency=32)
    batch = await wait_until_ended(client, created.id, timeout=120)
    assert batch.request_counts.succeeded == 500

    async with stack.engine.connect() as conn:
        by_type = dict((await conn.execute(text(
            "SELECT coalesce(error_type, 'ok'), count(*) FROM llm_calls GROUP BY 1"))).all())
        per_request = (await conn.execute(text(
            "SELECT max(r.attempts), bool_and(r.attempts = c.calls), sum(c.calls)"
            " FROM requests r JOIN (SELECT request_id, count(*) AS calls FROM llm_calls"
            "  GROUP BY request_id) c ON c.request_id = r.id"))).one()
    assert by_type["ok"] == 500
    retried = {k: v for k, v in by_type.items() if k != "ok"}
    assert {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"} <= set(retried)
    assert sum(retried.values()) > 50  # ~22 % of calls failed and were retried
    max_attempts, one_call_per_attempt, calls = per_request
    assert max_attempts <= BUDGET and one_call_per_attempt and calls == 500 + sum(retried.values())

    async with httpx.AsyncClient() as http:
        stats = (await http.get(f"{faulty_simulator}/_simulator/stats")).json()
    assert stats["by_status"]["200"] == 500  # no request was answered twice


async def test_provider_4xx_is_final_after_one_call(stack: Stack) -> None:
    requests = summarise_requests(10)
    for request in requests[:4]:
        request["params"]["max_tokens"] = 10_000_000  # the simulator, like Claude, says 400
    client = stack.client()
    created = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    stack.start_worker()
    batch = await wait_until_ended(client, created.id)
    assert (batch.request_counts.errored, batch.request_counts.succeeded) == (4, 6)
    results = {r.custom_id: r.result async for r in await client.messages.batches.results(created.id)}
    for request in requests[:4]:
        result = results[request["custom_id"]]
        assert result.type == "errored"
        assert result.error.error.type == "invalid_request_error"
        assert "max_tokens" in result.error.error.message
    async with stack.engine.connect() as conn:
        calls = (await conn.execute(text(
            "SELECT r.custom_id, r.attempts, count(c.id) FROM requests r"
            " JOIN llm_calls c ON c.request_id = r.id WHERE r.status = 'errored'"
            " GROUP BY r.custom_id, r.attempts"))).all()
    assert len(calls) == 4 and all(attempts == 1 and n == 1 for _, attempts, n in calls)
