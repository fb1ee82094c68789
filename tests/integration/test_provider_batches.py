"""Mode provider_batch against the simulator's Message Batches API: same API, status, results
and cost reporting as realtime, at the batch discount; cancel and expiry propagate; a
submission or a results import interrupted halfway is finished by the next run, once."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest
from sqlalchemy import text

from app.llm import provider_batches as provider
from app.settings import ProviderBatchSettings, WorkerSettings
from app.simulator import SimulatorConfig
from app.sql import queries
from app.worker import provider_batches as worker
from tests.conftest import Stack, running_simulator
from tests.integration.helpers import summarise_requests, wait_until_ended

CONFIG = ProviderBatchSettings(poll_every_seconds=1, max_requests=400)


@pytest.fixture
async def batch_simulator() -> AsyncIterator[str]:
    config = SimulatorConfig(seed=11, batch_processing_seconds=1.0, batch_error_rate=0.02)
    async with running_simulator(config) as url:
        yield url


def use(stack: Stack, simulator: str, config: ProviderBatchSettings = CONFIG) -> None:
    stack.use_simulator(simulator, worker=WorkerSettings(concurrency=16))
    stack.settings = dataclasses.replace(stack.settings, provider_batches=config)


async def create(stack: Stack, count: int, **extensions: Any) -> str:
    batch = await stack.client().messages.batches.create(
        requests=summarise_requests(count), extra_body=extensions)  # type: ignore[arg-type]
    return batch.id


async def fetch(stack: Stack, sql: str, **params: Any) -> list[Any]:
    async with stack.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def test_a_provider_batch_batch_runs_at_half_price_with_realtime_shaped_results(
        stack: Stack, batch_simulator: str) -> None:
    use(stack, batch_simulator)
    client = stack.client()
    provider_id = await create(stack, 1000, mode="provider_batch")
    realtime_id = await create(stack, 1000)
    stack.start_worker(concurrency=16)
    batch = await wait_until_ended(client, provider_id, timeout=120)
    realtime = await wait_until_ended(client, realtime_id, timeout=120)

    counts = batch.request_counts
    assert counts.succeeded + counts.errored == 1000 and counts.errored > 0  # 2 % injected
    assert batch.mode == "provider_batch" and realtime.mode == "realtime"  # type: ignore[attr-defined]
    lines = [line async for line in await client.messages.batches.results(provider_id)]
    assert Counter(line.custom_id for line in lines) == Counter(f"req-{i}" for i in range(1000))
    realtime_lines = {line.custom_id: line
                      async for line in await client.messages.batches.results(realtime_id)}
    for line in lines:  # identical in shape to realtime results
        assert line.result.type in ("succeeded", "errored")
        if line.result.type == "succeeded":
            twin = realtime_lines[line.custom_id].result
            assert twin.type == "succeeded"
            assert (line.result.message.model_dump().keys()  # type: ignore[union-attr]
                    == twin.message.model_dump().keys())  # type: ignore[union-attr]
        else:
            assert line.result.error.error.type == "api_error"  # type: ignore[union-attr]

    # Split within the configured limit, each provider batch done; one call per request.
    shapes = await fetch(stack, "SELECT request_count, status FROM provider_batches"
                                " WHERE batch_id = :id ORDER BY id", id=provider_id)
    assert shapes == [(400, "done"), (400, "done"), (200, "done")]
    calls = await fetch(stack, "SELECT count(*), bool_and(via_provider_batch), sum(cost)"
                               " FROM llm_calls WHERE batch_id = :id", id=provider_id)
    assert calls[0][0] == 1000 and calls[0][1] is True

    # Same tokens per succeeded request as realtime, half the price.
    per_request = await fetch(stack, """
        SELECT p.cost, r.cost FROM requests p JOIN requests r ON r.custom_id = p.custom_id
        WHERE p.batch_id = :p AND r.batch_id = :r AND p.status = 'succeeded'""",
                              p=provider_id, r=realtime_id)
    assert len(per_request) == counts.succeeded
    assert all(p * 2 == r for p, r in per_request)
    assert Decimal(batch.cost_usd) == calls[0][2]  # type: ignore[attr-defined]

    # The cost report shows the discount by mode.
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        report = (await http.get("/v1/reports/cost", params={"by": "mode"})).json()
    by_mode = {row["key"]: row for row in report["data"]}
    assert set(by_mode) == {"provider_batch", "realtime"}
    assert by_mode["provider_batch"]["calls"] == 1000
    assert Decimal(by_mode["provider_batch"]["cost"]) == calls[0][2]
    assert Decimal(by_mode["realtime"]["cost"]) == Decimal(realtime.cost_usd)  # type: ignore[attr-defined]
    print(f"\nthe same 1,000 requests: realtime ${realtime.cost_usd} "  # type: ignore[attr-defined]
          f"({realtime.request_counts.succeeded} succeeded), provider_batch ${batch.cost_usd} "  # type: ignore[attr-defined]
          f"({counts.succeeded} succeeded, {counts.errored} errored by the provider)")


async def test_cancel_reaches_the_provider_batch(stack: Stack) -> None:
    config = SimulatorConfig(seed=3, batch_processing_seconds=30)
    async with running_simulator(config) as simulator:
        use(stack, simulator)
        client = stack.client()
        batch_id = await create(stack, 200, mode="provider_batch")
        stack.start_worker()
        await _wait_for(stack, "SELECT count(*) = 1 FROM provider_batches"
                               " WHERE status = 'submitted'")
        await client.messages.batches.cancel(batch_id)
        batch = await wait_until_ended(client, batch_id, timeout=30)
        counts = batch.request_counts
        assert counts.canceled > 0 and counts.canceled + counts.succeeded == 200
        (provider_id, cancel_sent), = await fetch(
            stack, "SELECT provider_batch_id, cancel_sent_at IS NOT NULL FROM provider_batches")
        assert cancel_sent
        at_provider = await provider.retrieve(_client(simulator), provider_id)
        assert at_provider.processing_status == "ended"
        lines = [line async for line in await client.messages.batches.results(batch_id)]
        assert len({line.custom_id for line in lines}) == 200


async def test_provider_side_expiry_becomes_expired_requests(stack: Stack) -> None:
    config = SimulatorConfig(seed=5, batch_processing_seconds=30, batch_expire_after_seconds=1)
    async with running_simulator(config) as simulator:
        use(stack, simulator)
        batch_id = await create(stack, 300, mode="provider_batch")
        stack.start_worker()
        batch = await wait_until_ended(stack.client(), batch_id, timeout=30)
        counts = batch.request_counts
        assert counts.expired > 0 and counts.succeeded + counts.expired == 300
        expired_calls = await fetch(stack, "SELECT count(*) FROM llm_calls l JOIN requests r"
                                           " ON r.id = l.request_id WHERE r.status = 'expired'")
        assert expired_calls == [(0,)]  # an expired request cost nothing


@pytest.mark.parametrize(("extensions", "mode"), [
    ({"mode": "auto", "completion_window": "24h"}, "provider_batch"),
    ({"mode": "auto", "completion_window": "2d"}, "provider_batch"),
    ({"mode": "auto", "completion_window": "6h"}, "realtime"),
    ({"mode": "auto"}, "realtime"),
    ({"mode": "provider_batch"}, "provider_batch"),
])
async def test_mode_auto_chooses_by_window_and_size(stack: Stack, extensions: dict[str, str],
                                                    mode: str) -> None:
    batch = await stack.client().messages.batches.retrieve(await create(stack, 100, **extensions))
    assert batch.mode == mode  # type: ignore[attr-defined]
    small = await stack.client().messages.batches.retrieve(await create(stack, 99, **extensions))
    assert small.mode == ("provider_batch" if extensions["mode"] == "provider_batch"  # type: ignore[attr-defined]
                          else "realtime")
    jobs = await fetch(stack, "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'requests'")
    assert jobs == [((mode == "realtime") * 100 + (extensions["mode"] != "provider_batch") * 99,)]


async def test_an_interrupted_submission_is_adopted_not_sent_twice(
        stack: Stack, batch_simulator: str) -> None:
    use(stack, batch_simulator)
    batch_id = await create(stack, 50, mode="provider_batch")
    engine, sim = stack.engine, _client(batch_simulator)
    await worker.gather(stack.engine, CONFIG)
    # An attempt that reached the provider and died before recording anything:
    (pb_id,), = await fetch(stack, "SELECT id FROM provider_batches")
    async with engine.begin() as conn:
        await conn.execute(queries["provider_batch_submit_start"], {"id": pb_id,
                                                                      "request_count": 50})
        requests = [(r.id, r.params) for r in
                    await conn.execute(queries["provider_batch_requests"], {"id": pb_id})]
    orphan = await provider.submit(sim, requests)
    for _ in range(6):  # runs until the batch ends
        await worker.run(engine, sim, CONFIG)
        batch = await stack.client().messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            break
        await _sleep(0.5)
    assert batch.request_counts.succeeded + batch.request_counts.errored == 50
    assert await fetch(stack, "SELECT provider_batch_id FROM provider_batches") == [(orphan.id,)]
    listed = [b async for b in provider.created_since(sim, orphan.created_at)]
    assert [b.id for b in listed].count(orphan.id) == 1 and len(
        [b for b in listed if b.request_count == 50]) == 1


async def test_an_interrupted_results_import_records_each_request_once(
        stack: Stack, batch_simulator: str) -> None:
    use(stack, batch_simulator)
    batch_id = await create(stack, 600, mode="provider_batch")
    engine, sim = stack.engine, _client(batch_simulator)
    config = dataclasses.replace(CONFIG, max_requests=1000)
    await worker.run(engine, sim, config)
    await _sleep(1.2)
    await worker.poll(engine, sim)
    (row,) = await fetch(stack, "SELECT id, batch_id, provider_batch_id, submitted_at"
                                " FROM provider_batches WHERE status = 'ended'")
    # Half the results recorded, then the worker dies:
    lines = [worker.parse(raw) async for raw in provider.result_lines(sim, row.provider_batch_id)]
    await worker._record(engine, row.id, row.batch_id, row, [x for x in lines if x][:300])
    half = await stack.client().messages.batches.retrieve(batch_id)
    assert half.request_counts.processing == 300
    await worker.run(engine, sim, config)  # the next run replays the whole file
    batch = await stack.client().messages.batches.retrieve(batch_id)
    assert batch.processing_status == "ended"
    assert batch.request_counts.succeeded + batch.request_counts.errored == 600
    (calls, cost), = await fetch(stack, "SELECT count(*), sum(cost) FROM llm_calls")
    assert calls == 600 and Decimal(batch.cost_usd) == cost  # type: ignore[attr-defined]
    lines = [line async for line in await stack.client().messages.batches.results(batch_id)]
    assert sorted(line.custom_id for line in lines) == sorted(f"req-{i}" for i in range(600))


def _client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0)


async def _sleep(seconds: float) -> None:
    import asyncio
    await asyncio.sleep(seconds)


async def _wait_for(stack: Stack, sql: str, timeout: float = 20) -> None:
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while not (await fetch(stack, sql))[0][0]:
        assert time.monotonic() < deadline, f"timed out waiting for: {sql}"
        await asyncio.sleep(0.1)
