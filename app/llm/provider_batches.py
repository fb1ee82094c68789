"""The provider's Message Batches API through the official SDK: submit, poll, cancel, find,
and read results as raw JSONL lines (stored as the provider wrote them, like realtime answers).

A request's custom_id at the provider is ``r<request id>``: unique whatever batch it came
from, and the way back to the request when results arrive.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import anthropic

CUSTOM_ID_PREFIX = "r"


def custom_id(request_id: int) -> str:
    return f"{CUSTOM_ID_PREFIX}{request_id}"


def request_id(custom_id: str) -> int | None:
    """The request a result line belongs to, or None for a custom_id Batchmill did not send."""
    digits = custom_id.removeprefix(CUSTOM_ID_PREFIX)
    return int(digits) if custom_id.startswith(CUSTOM_ID_PREFIX) and digits.isdigit() else None


@dataclass(frozen=True)
class ProviderBatch:
    id: str
    processing_status: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    request_count: int


def _batch(batch: Any) -> ProviderBatch:
    counts = batch.request_counts
    return ProviderBatch(
        id=batch.id, processing_status=batch.processing_status, created_at=batch.created_at,
        ended_at=batch.ended_at,
        request_count=(counts.processing + counts.succeeded + counts.errored + counts.canceled
                       + counts.expired))


async def submit(client: anthropic.AsyncAnthropic,
                 requests: Iterable[tuple[int, dict[str, Any]]]) -> ProviderBatch:
    """Create a provider batch of (request id, params)."""
    return _batch(await client.messages.batches.create(requests=[  # type: ignore[misc]
        {"custom_id": custom_id(rid), "params": params} for rid, params in requests]))


async def retrieve(client: anthropic.AsyncAnthropic, provider_batch_id: str) -> ProviderBatch:
    return _batch(await client.messages.batches.retrieve(provider_batch_id))


async def cancel(client: anthropic.AsyncAnthropic, provider_batch_id: str) -> None:
    await client.messages.batches.cancel(provider_batch_id)


async def created_since(client: anthropic.AsyncAnthropic,
                        since: dt.datetime) -> AsyncIterator[ProviderBatch]:
    """Provider batches created at or after ``since``, newest first (pages stop there)."""
    async for batch in client.messages.batches.list(limit=100):
        if batch.created_at < since:
            return
        yield _batch(batch)


async def result_lines(client: anthropic.AsyncAnthropic,
                       provider_batch_id: str) -> AsyncIterator[bytes]:
    """The ended batch's results file, one raw JSON line at a time, streamed."""
    async with client.messages.batches.with_streaming_response.results(
            provider_batch_id) as response:
        async for line in response.iter_lines():
            if line.strip():
                yield line.encode()
