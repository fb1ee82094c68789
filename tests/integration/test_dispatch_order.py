"""Priorities and fairness: higher priority first; among equals, batches share the workers
round-robin, so a small batch behind a huge one is not starved. And a provider 429 pauses
every worker, not just the one that met it."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from app.simulator import SimulatorConfig
from app.worker.app import run_worker
from tests.conftest import Stack, running_simulator
from tests.integration.helpers import summarise_requests, wait_until_ended


@pytest.fixture
async def slow_simulator() -> AsyncIterator[str]:
    async with running_simulator(SimulatorConfig(latency_seconds=0.02)) as url:
        yield url


async def progress(stack: Stack, batch_id: str) -> int:
    batch = await stack.client().messages.batches.retrieve(batch_id)
    return batch.request_counts.succeeded


async def test_small_batch_is_not_starved_by_a_big_one(stack: Stack, slow_simulator: str) -> None:
    stack.use_simulator(slow_simulator)
    client = stack.client()
    big = await client.messages.batches.create(
        requests=summarise_requests(1500, prefix="big"))  # type: ignore[arg-type]
    stack.start_worker(concurrency=4)
    while await progress(stack, big.id) < 50:
        await asyncio.sleep(0.05)
    small = await client.messages.batches.create(
        requests=summarise_requests(10, prefix="small"))  # type: ignore[arg-type]
    started = time.monotonic()
    await wait_until_ended(client, small.id, timeout=30)
    waited = time.monotonic() - started
    big_done = await progress(stack, big.id)
    # Round-robin: the small batch's 10 requests went next, not after ~1,450 others.
    assert big_done < 400, big_done
    assert waited < 10


async def test_higher_priority_batch_goes_first(stack: Stack, slow_simulator: str) -> None:
    stack.use_simulator(slow_simulator)
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        low = (await http.post("/v1/messages/batches", json={
            "requests": summarise_requests(200, prefix="low")})).json()["id"]
        high = (await http.post("/v1/messages/batches", json={
            "requests": summarise_requests(20, prefix="high"), "priority": 5})).json()["id"]
    stack.start_worker(concurrency=2)
    await wait_until_ended(stack.client(), high, timeout=30)
    assert await progress(stack, low) < 200
    async with stack.engine.connect() as conn:
        first = (await conn.execute(text(
            "SELECT r.batch_id FROM llm_calls c JOIN requests r ON r.id = c.request_id"
            " ORDER BY c.id LIMIT 20"))).scalars().all()
    assert first.count(high) >= 18


async def test_a_provider_429_pauses_every_worker(stack: Stack) -> None:
    # A simulator with a 30/min limit the workers do not know about yet.
    async with running_simulator(SimulatorConfig(rpm=30, retry_after_seconds=1)) as url:
        stack.use_simulator(url)
        batch = await stack.client().messages.batches.create(
            requests=summarise_requests(60))  # type: ignore[arg-type]
        stack.start_worker(concurrency=8)
        second = asyncio.create_task(  # another worker process, as far as Postgres can tell
            run_worker(stack.settings, concurrency=8, install_signal_handlers=False))
        try:
            await asyncio.sleep(8)
        finally:
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"{url}/_simulator/stats")).json()
        async with stack.engine.connect() as conn:
            limits = (await conn.execute(text(
                "SELECT rpm, throttled, source FROM rate_limit_status_v1"))).one()
        assert stats["by_status"]["200"] >= 30
        # The first 429 taught the limit (30/min from the headers) and paused both workers:
        # from then on they waited instead of calling, so few 429s followed.
        assert limits.rpm == 30 and limits.source == "learned" and limits.throttled >= 1
        assert stats["by_status"].get("429", 0) <= 16, stats
        assert await progress(stack, batch.id) >= 30
