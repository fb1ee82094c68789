"""Every batch belongs to its creator's tenant: another tenant gets 404 from every endpoint,
never sees it listed, and cannot change it."""
from __future__ import annotations

import anthropic
import httpx
import pytest

from app.keys import create_key
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests, wait_until_ended


@pytest.fixture
async def neighbour(stack: Stack) -> anthropic.AsyncAnthropic:
    async with stack.engine.begin() as conn:
        key = await create_key(conn, "tenant-b")
    return anthropic.AsyncAnthropic(base_url=stack.api_url, api_key=key, max_retries=0)


async def test_another_tenant_cannot_see_or_touch_a_batch(
        stack: Stack, neighbour: anthropic.AsyncAnthropic) -> None:
    owner = stack.client()
    running = await owner.messages.batches.create(
        requests=summarise_requests(3))  # type: ignore[arg-type]
    theirs = await neighbour.messages.batches.create(
        requests=summarise_requests(1))  # type: ignore[arg-type]

    for call in (neighbour.messages.batches.retrieve, neighbour.messages.batches.cancel,
                 neighbour.messages.batches.delete):
        with pytest.raises(anthropic.NotFoundError):
            await call(running.id)
    assert [b.id async for b in neighbour.messages.batches.list()] == [theirs.id]
    assert [b.id async for b in owner.messages.batches.list()] == [running.id]

    untouched = await owner.messages.batches.retrieve(running.id)
    assert untouched.cancel_initiated_at is None and untouched.request_counts.processing == 3

    stack.start_worker()
    await wait_until_ended(owner, running.id)
    await wait_until_ended(neighbour, theirs.id)
    # results: the SDK retrieves first (404); the raw endpoint is guarded on its own too.
    with pytest.raises(anthropic.NotFoundError):
        await neighbour.messages.batches.results(running.id)
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        raw = await http.get(f"/v1/messages/batches/{running.id}/results",
                             headers={"x-api-key": neighbour.api_key})
    assert raw.status_code == 404 and raw.json()["error"]["type"] == "not_found_error"
    assert len([r async for r in await owner.messages.batches.results(running.id)]) == 3
