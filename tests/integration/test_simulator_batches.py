"""The simulator's Message Batches API over real HTTP, as the official SDK sees it: the batch
lifecycle, results with usage, injected errors, cancel, expiry, listing and deletion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from app.simulator import SimulatorConfig
from tests.conftest import running_simulator

MODEL = "claude-sim-1"
PROCESSING = 0.2
QUESTION = "Which regions grew fastest last quarter?"  # 10 tokens


def request(custom_id: str, **params: Any) -> dict[str, Any]:
    params = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}], **params}
    return {"custom_id": custom_id, "params": params}


@asynccontextmanager
async def simulator(**overrides: Any) -> AsyncIterator[tuple[str, anthropic.AsyncAnthropic]]:
    config = SimulatorConfig(**{"batch_processing_seconds": PROCESSING, "seed": 7, **overrides})
    async with (
        running_simulator(config) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        yield url, sdk


async def wait_until_ended(sdk: anthropic.AsyncAnthropic, batch_id: str, timeout: float = 5) -> MessageBatch:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        batch = await sdk.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert asyncio.get_running_loop().time() < deadline, f"batch still {batch.processing_status}"
        await asyncio.sleep(0.05)


async def results(sdk: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    return {entry.custom_id: entry async for entry in await sdk.messages.batches.results(batch_id)}


def counts(batch: MessageBatch) -> tuple[int, int, int, int, int]:
    c = batch.request_counts
    return (c.processing, c.succeeded, c.errored, c.canceled, c.expired)


async def test_batch_runs_then_ends_with_messages_and_usage() -> None:
    async with simulator() as (url, sdk):
        batch = await sdk.messages.batches.create(
            requests=[request("a"), request("b", max_tokens=2), request("bad", max_tokens=0)]  # type: ignore[list-item]
        )
        assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
        assert batch.processing_status == "in_progress"
        assert counts(batch) == (3, 0, 0, 0, 0)
        assert batch.results_url is None and batch.ended_at is None and batch.archived_at is None
        assert batch.cancel_initiated_at is None
        assert (batch.expires_at - batch.created_at).total_seconds() == pytest.approx(24 * 3600)
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            await sdk.messages.batches.results(batch.id)

        ended = await wait_until_ended(sdk, batch.id)
        assert counts(ended) == (0, 2, 1, 0, 0)
        assert ended.results_url == f"{url}/v1/messages/batches/{batch.id}/results"
        assert ended.ended_at is not None
        assert (ended.ended_at - ended.created_at).total_seconds() == pytest.approx(PROCESSING, abs=0.01)

        by_id = await results(sdk, batch.id)
        assert set(by_id) == {"a", "b", "bad"}
        a = by_id["a"].result
        assert a.type == "succeeded"
        assert a.message.model == MODEL and a.message.id.startswith("msg_")
        assert a.message.content[0].type == "text" and a.message.content[0].text.startswith("Summary: Which regions")
        assert (a.message.usage.input_tokens, a.message.usage.service_tier) == (10, "batch")
        assert a.message.usage.output_tokens > 0
        b = by_id["b"].result
        assert b.type == "succeeded" and b.message.stop_reason == "max_tokens"
        assert b.message.usage.output_tokens == 2
        bad = by_id["bad"].result
        assert bad.type == "errored"
        assert bad.error.error.type == "invalid_request_error"
        assert "max_tokens" in bad.error.error.message


async def test_batch_results_match_a_direct_call() -> None:
    async with simulator() as (_url, sdk):
        direct = await sdk.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        )
        batch = await sdk.messages.batches.create(requests=[request("one")])  # type: ignore[list-item]
        await wait_until_ended(sdk, batch.id)
        result = (await results(sdk, batch.id))["one"].result
        assert result.type == "succeeded"
        assert result.message.content == direct.content
        assert result.message.usage.input_tokens == direct.usage.input_tokens
        assert result.message.usage.output_tokens == direct.usage.output_tokens


async def test_error_rate_one_makes_every_valid_request_errored() -> None:
    async with simulator(batch_error_rate=1.0) as (_url, sdk):
        batch = await sdk.messages.batches.create(
            requests=[request(f"r{i}") for i in range(5)]  # type: ignore[misc]
        )
        ended = await wait_until_ended(sdk, batch.id)
        assert counts(ended) == (0, 0, 5, 0, 0)
        for entry in (await results(sdk, batch.id)).values():
            assert entry.result.type == "errored"
            assert entry.result.error.error.type == "api_error"


async def test_cancel_before_the_end_cancels_the_unprocessed_requests() -> None:
    async with simulator(batch_processing_seconds=5.0) as (url, sdk):
        batch = await sdk.messages.batches.create(
            requests=[request(f"r{i}") for i in range(4)]  # type: ignore[misc]
        )
        canceling = await sdk.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        assert counts(canceling) == (4, 0, 0, 0, 0)
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert counts(ended) == (0, 0, 0, 4, 0)
        assert ended.results_url == f"{url}/v1/messages/batches/{batch.id}/results"
        assert {entry.result.type for entry in (await results(sdk, batch.id)).values()} == {"canceled"}
        # Canceling an ended batch changes nothing.
        again = await sdk.messages.batches.cancel(batch.id)
        assert again.processing_status == "ended" and counts(again) == (0, 0, 0, 4, 0)


async def test_cancel_part_way_keeps_the_processed_results() -> None:
    async with simulator(batch_processing_seconds=1.0) as (_url, sdk):
        batch = await sdk.messages.batches.create(
            requests=[request("early"), request("late")]  # type: ignore[list-item]
        )
        await asyncio.sleep(0.7)  # "early" is processed at 0.5 s, "late" would be at 1 s
        await sdk.messages.batches.cancel(batch.id)
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert counts(ended) == (0, 1, 0, 1, 0)
        by_id = await results(sdk, batch.id)
        assert (by_id["early"].result.type, by_id["late"].result.type) == ("succeeded", "canceled")


async def test_batch_expires_before_it_finishes() -> None:
    async with simulator(batch_processing_seconds=1.0, batch_expire_after_seconds=0.3) as (_url, sdk):
        batch = await sdk.messages.batches.create(
            requests=[request(f"r{i}") for i in range(10)]  # type: ignore[misc]
        )
        ended = await wait_until_ended(sdk, batch.id)
        assert ended.ended_at is not None
        assert (ended.ended_at - ended.created_at).total_seconds() == pytest.approx(0.3, abs=0.01)
        assert counts(ended) == (0, 3, 0, 0, 7)  # requests processed at 0.1, 0.2, 0.3 s
        by_id = await results(sdk, batch.id)
        assert [by_id[f"r{i}"].result.type for i in range(10)] == ["succeeded"] * 3 + ["expired"] * 7


async def test_list_is_newest_first_and_paginates() -> None:
    async with simulator(batch_processing_seconds=5.0) as (_url, sdk):
        created = [(await sdk.messages.batches.create(requests=[request("x")])).id for _ in range(5)]  # type: ignore[list-item]
        newest_first = created[::-1]
        page = await sdk.messages.batches.list(limit=2)
        assert [b.id for b in page.data] == newest_first[:2]
        assert page.has_more and page.first_id == newest_first[0] and page.last_id == newest_first[1]
        assert [b.id async for b in await sdk.messages.batches.list(limit=2)] == newest_first
        after = await sdk.messages.batches.list(limit=10, after_id=newest_first[1])
        assert [b.id for b in after.data] == newest_first[2:] and not after.has_more
        before = await sdk.messages.batches.list(limit=2, before_id=newest_first[4])
        assert [b.id for b in before.data] == newest_first[2:4] and before.has_more
        assert [b.id async for b in await sdk.messages.batches.list(limit=2, before_id=newest_first[4])] == [
            *newest_first[2:4], *newest_first[0:2]
        ]
        # An ended and deleted batch leaves the listing; its id still works as a cursor.
        await sdk.messages.batches.cancel(created[2])
        deleted = await sdk.messages.batches.delete(created[2])
        assert (deleted.id, deleted.type) == (created[2], "message_batch_deleted")
        after = await sdk.messages.batches.list(after_id=created[2])
        assert [b.id for b in after.data] == [created[1], created[0]]
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.batches.retrieve(created[2])
        with pytest.raises(anthropic.BadRequestError):
            await sdk.messages.batches.list(limit=0)


async def test_delete_before_the_end_is_rejected() -> None:
    async with simulator(batch_processing_seconds=5.0) as (_url, sdk):
        batch = await sdk.messages.batches.create(requests=[request("x")])  # type: ignore[list-item]
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.batches.delete(batch.id)
        assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert (await sdk.messages.batches.retrieve(batch.id)).processing_status == "in_progress"


@pytest.mark.parametrize(
    ("make_requests", "fragment"),
    [
        (lambda: [], "at least 1"),
        (lambda: [request("dup"), request("dup")], "Duplicate custom_id"),
        (lambda: [request("has space")], "pattern"),
        (lambda: [request("x" * 65)], "pattern"),
        (lambda: [{"custom_id": "a"}], "params: Field required"),
        (lambda: [{"custom_id": "a", "params": "no"}], "valid dictionary"),
        (lambda: [request(f"r{i}") for i in range(100_001)], "at most 100000"),
    ],
)
async def test_invalid_batches_are_rejected(make_requests: Callable[[], list[Any]], fragment: str) -> None:
    async with simulator() as (_url, sdk):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.batches.create(requests=make_requests())
        error = caught.value.body["error"]  # type: ignore[index]
        assert error["type"] == "invalid_request_error" and fragment in error["message"]


async def test_batches_require_auth_and_ignore_the_beta_flag() -> None:
    async with simulator() as (url, _sdk), httpx.AsyncClient(base_url=url) as client:
        body = {"requests": [request("a")]}
        assert (await client.post("/v1/messages/batches", json=body)).status_code == 401
        assert (await client.get("/v1/messages/batches")).status_code == 401
        headers = {"x-api-key": "x", "anthropic-beta": "message-batches-2024-09-24"}
        created = await client.post("/v1/messages/batches?beta=true", json=body, headers=headers)
        assert created.status_code == 200 and created.json()["processing_status"] == "in_progress"
        batch_id = created.json()["id"]
        listed = await client.get("/v1/messages/batches?beta=true", headers=headers)
        assert [b["id"] for b in listed.json()["data"]] == [batch_id]
        missing = await client.get("/v1/messages/batches/msgbatch_nope", headers=headers)
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
