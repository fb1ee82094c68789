"""Budgets: a submission whose worst case does not fit is refused; at dispatch each call
reserves its worst case, so concurrent workers never spend past the budget."""
from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import summarise_requests, wait_until_ended


async def set_budget(stack: Stack, usd: str | None) -> None:
    async with stack.engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET monthly_budget_usd = :b WHERE name = 'tenant-a'"),
                           {"b": None if usd is None else Decimal(usd)})


async def test_submission_over_budget_is_refused_and_stores_nothing(stack: Stack) -> None:
    await set_budget(stack, "0.01")
    requests = summarise_requests(10)
    for r in requests:
        r["params"]["max_tokens"] = 1000  # worst case 10 x 1,000 x $5/M = $0.05 > $0.01
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        refused = await http.post("/v1/messages/batches", json={"requests": requests})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error" and "$0.01 budget" in error["message"]
        fits = await http.post("/v1/messages/batches", json={"requests": requests[:1]})
        assert fits.status_code == 200
    async with stack.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM requests"))).scalar_one() == 1


async def test_concurrent_workers_never_spend_past_the_budget(stack: Stack) -> None:
    requests = summarise_requests(300)
    for r in requests:
        r["params"]["max_tokens"] = 100
    client = stack.client()
    batch = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    # Each call's worst case is ~$0.0005 at Haiku 4.5 prices; the budget covers ~60 of them.
    budget = Decimal("0.03")
    await set_budget(stack, str(budget))
    stack.start_worker(concurrency=16)
    ended = await wait_until_ended(client, batch.id, timeout=60)
    counts = ended.request_counts
    assert counts.succeeded + counts.errored == 300 and counts.succeeded > 0 and counts.errored > 0
    async with stack.engine.connect() as conn:
        spent, calls = (await conn.execute(text(
            "SELECT sum(cost), count(*) FROM llm_calls WHERE batch_id = :b"),
            {"b": batch.id})).one()
        ledger = (await conn.execute(text("SELECT spent, reserved FROM tenant_spend"))).one()
    assert spent <= budget  # never past it, with 16 calls at a time
    assert ledger.spent == spent and ledger.reserved == 0  # every reservation settled
    assert calls == counts.succeeded  # refused requests were never sent
    results = [r async for r in await client.messages.batches.results(batch.id)]
    refused = [r for r in results if r.result.type == "errored"]
    assert {r.result.error.error.type for r in refused} == {"billing_error"}
