"""Every Message Batches endpoint through the official SDK: sync and async clients, plain and
beta resources, parsed into the SDK's own types."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import summarise_requests

VARIANTS = ["async-plain", "async-beta", "sync-plain", "sync-beta"]


class Batches:
    """One of the SDK's four batch resources, called the same way from an async test (sync
    clients run in a thread: the API under test shares this event loop)."""

    def __init__(self, stack: Stack, variant: str) -> None:
        mode, flavour = variant.split("-")
        cls = anthropic.AsyncAnthropic if mode == "async" else anthropic.Anthropic
        client = cls(base_url=stack.api_url, api_key=stack.api_key, max_retries=0)
        self.resource: Any = (client.beta if flavour == "beta" else client).messages.batches
        self.is_async = mode == "async"

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        fn: Callable[..., Any] = getattr(self.resource, method)
        if self.is_async:
            return await fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def results(self, batch_id: str) -> list[Any]:
        if self.is_async:
            return [r async for r in await self.resource.results(batch_id)]
        return await asyncio.to_thread(lambda: list(self.resource.results(batch_id)))

    async def wait_ended(self, batch_id: str) -> Any:
        for _ in range(600):
            batch = await self("retrieve", batch_id)
            if batch.processing_status == "ended":
                return batch
            await asyncio.sleep(0.05)
        raise AssertionError(f"{batch_id} did not end")


def with_bad_params(count: int) -> list[dict[str, Any]]:
    requests = summarise_requests(count)
    requests.append({"custom_id": "no-max-tokens", "params": {
        "model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}})
    return requests


@pytest.mark.parametrize("variant", VARIANTS)
async def test_lifecycle_create_retrieve_list_results_delete(stack: Stack, variant: str) -> None:
    batches = Batches(stack, variant)
    created = await batches("create", requests=with_bad_params(4))
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.request_counts.processing == 4 and created.request_counts.errored == 1

    listed = await batches("list", limit=5)
    assert [b.id for b in listed.data] == [created.id]

    stack.start_worker()
    ended = await batches.wait_ended(created.id)
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (4, 1)
    assert ended.results_url.endswith(f"/v1/messages/batches/{created.id}/results")

    results = await batches.results(created.id)
    assert [r.custom_id for r in results] == [f"req-{i}" for i in range(4)] + ["no-max-tokens"]
    assert all(r.result.type == "succeeded" for r in results[:4])
    assert results[0].result.message.content[0].text
    errored = results[4].result
    assert errored.type == "errored"
    assert errored.error.error.type == "invalid_request_error"
    assert "params.max_tokens" in errored.error.error.message

    async with stack.engine.connect() as conn:
        calls = (await conn.execute(text("SELECT count(*) FROM llm_calls WHERE batch_id = :b"),
                                    {"b": created.id})).scalar_one()
    assert calls == 4  # the invalid request never reached the provider

    deleted = await batches("delete", created.id)
    assert (deleted.id, deleted.type) == (created.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        await batches("retrieve", created.id)
    async with stack.engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM requests"))).scalar_one()
        kept_calls = (await conn.execute(text("SELECT count(*) FROM llm_calls"))).scalar_one()
    assert (left, kept_calls) == (0, 4)  # spend history outlives the batch


@pytest.mark.parametrize("variant", ["async-plain", "sync-beta"])
async def test_cancel_before_any_work_cancels_every_queued_request(stack: Stack,
                                                                   variant: str) -> None:
    batches = Batches(stack, variant)
    created = await batches("create", requests=with_bad_params(6))
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
        await batches("delete", created.id)

    canceled = await batches("cancel", created.id)
    assert canceled.processing_status == "ended"  # nothing was running
    assert canceled.cancel_initiated_at is not None and canceled.ended_at is not None
    counts = canceled.request_counts
    assert (counts.processing, counts.canceled, counts.errored) == (0, 6, 1)
    assert (await batches("cancel", created.id)).request_counts == counts  # idempotent

    async with stack.engine.connect() as conn:
        jobs = (await conn.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar_one()
    assert jobs == 0  # their queue rows are gone: no worker will pick them up

    results = await batches.results(created.id)
    assert [r.result.type for r in results] == ["canceled"] * 6 + ["errored"]


async def test_pagination_across_three_pages_newest_first(stack: Stack) -> None:
    client = stack.client()
    ids = [(await client.messages.batches.create(
        requests=summarise_requests(1))).id for _ in range(7)]  # type: ignore[arg-type]
    newest_first = ids[::-1]

    first = await client.messages.batches.list(limit=3)
    assert [b.id for b in first.data] == newest_first[:3]
    assert first.has_more and first.first_id == newest_first[0] and first.last_id == newest_first[2]
    second = await client.messages.batches.list(limit=3, after_id=first.last_id)
    assert [b.id for b in second.data] == newest_first[3:6] and second.has_more
    third = await client.messages.batches.list(limit=3, after_id=second.last_id)
    assert [b.id for b in third.data] == newest_first[6:] and not third.has_more

    back = await client.messages.batches.list(limit=3, before_id=third.first_id)
    assert [b.id for b in back.data] == newest_first[3:6] and back.has_more

    # The SDK's auto-pagination walks all pages.
    assert [b.id async for b in client.messages.batches.list(limit=3)] == newest_first
    default = await client.messages.batches.list()
    assert len(default.data) == 7 and not default.has_more


async def test_results_url_works_when_joined_to_base_url(stack: Stack) -> None:
    import httpx

    client = stack.client()
    created = await client.messages.batches.create(
        requests=summarise_requests(2))  # type: ignore[arg-type]
    stack.start_worker()
    for _ in range(200):
        batch = await client.messages.batches.retrieve(created.id)
        if batch.processing_status == "ended":
            break
        await asyncio.sleep(0.05)
    assert batch.results_url is not None
    path = httpx.URL(batch.results_url).path  # as a client that joins it to base_url would
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        response = await http.get(path, headers={"x-api-key": stack.api_key})
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert len(lines) == 2 and all(line.startswith('{"custom_id":') for line in lines)
    assert response.text.endswith("\n") and "\n\n" not in response.text
