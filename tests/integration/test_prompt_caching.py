"""Automatic prompt caching: a system prompt shared by a batch is marked for caching, so the
calls after the first read it from the provider's cache — and the batch costs less."""
from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import wait_until_ended

SYSTEM = ("You are a meticulous analyst of quarterly reports. " * 100)[:5200]  # ~1,300 tokens


def shared_system_batch(n: int, **extensions: object) -> dict[str, object]:
    return {"requests": [{"custom_id": f"r-{i}", "params": {
        "model": "claude-sonnet-4-5", "max_tokens": 50, "system": SYSTEM,
        "messages": [{"role": "user", "content": f"Summarise report {i}."}]}}
        for i in range(n)], **extensions}


async def test_shared_system_prompt_is_cached_and_costs_less(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60,
                                 headers={"x-api-key": stack.api_key}) as http:
        cached = (await http.post("/v1/messages/batches",
                                  json=shared_system_batch(1000))).json()["id"]
        plain = (await http.post("/v1/messages/batches", json=shared_system_batch(
            1000, auto_cache=False))).json()["id"]
    stack.start_worker(concurrency=16)
    client = stack.client()
    await wait_until_ended(client, cached, timeout=120)
    await wait_until_ended(client, plain, timeout=120)
    async with stack.engine.connect() as conn:
        rows = {r.batch_id: r for r in (await conn.execute(text(
            "SELECT batch_id, count(*) AS calls,"
            " count(*) FILTER (WHERE cache_read_tokens > 0) AS reads,"
            " count(*) FILTER (WHERE cache_creation_5m_tokens > 0) AS writes,"
            " sum(cost) AS cost FROM llm_calls GROUP BY batch_id"))).all()}
    on, off = rows[cached], rows[plain]
    assert on.calls == off.calls == 1000
    # The calls in flight before the first answer all write (as on the real API); every
    # call after that reads.
    assert on.writes <= 16 and on.reads == 1000 - on.writes
    assert off.reads == off.writes == 0
    assert on.cost * 2 < off.cost
    print(f"\n1,000 requests sharing a ~1,300-token system prompt on Sonnet 4.5: "
          f"${on.cost:.4f} with automatic caching ({on.writes} writes, {on.reads} reads) vs "
          f"${off.cost:.4f} without")
