"""Small helpers shared by integration tests."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from anthropic.types.messages import MessageBatch


def summarise_requests(count: int, *, model: str = "claude-haiku-4-5",
                       prefix: str = "req") -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"{prefix}-{i}",
            "params": {
                "model": model,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"Summarise document number {i}: "
                              "the quarterly report shows revenue up and costs down."}],
            },
        }
        for i in range(count)
    ]


async def wait_until_ended(client: anthropic.AsyncAnthropic, batch_id: str,
                           timeout: float = 60) -> MessageBatch:
    deadline = time.monotonic() + timeout
    while True:
        batch = await client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} did not end in {timeout}s: {batch}")
        await asyncio.sleep(0.1)
