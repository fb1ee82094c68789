"""Batches: validate a submission, store it atomically, read status and stream results.

Submission is one transaction: the batch row, every request row and every request's queue
row commit together or not at all, in three statements whatever the batch size.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import ids, queue
from app.errors import InvalidRequest, NotFound
from app.sql import queries

MAX_REQUESTS = 100_000
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
RESULTS_CHUNK_ROWS = 1_000


@dataclass(frozen=True)
class RequestIn:
    custom_id: str
    params: dict[str, Any]
    priority: int = 0


@dataclass(frozen=True)
class BatchIn:
    requests: list[RequestIn]
    priority: int = 0
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    mode: str = "realtime"


def parse_batch(body: Any) -> BatchIn:
    """Check a decoded ``POST /v1/messages/batches`` body; errors name the offending index."""
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    items = body.get("requests")
    if not isinstance(items, list):
        raise InvalidRequest("requests: Field required (a list of request objects).")
    if not 1 <= len(items) <= MAX_REQUESTS:
        raise InvalidRequest(
            f"requests: must contain between 1 and {MAX_REQUESTS:,} items, got {len(items):,}."
        )
    seen: dict[str, int] = {}
    requests: list[RequestIn] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidRequest(f"requests.{index}: must be an object.")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise InvalidRequest(
                f"requests.{index}.custom_id: must be a string matching ^[a-zA-Z0-9_-]{{1,64}}$."
            )
        if custom_id in seen:
            raise InvalidRequest(
                f"requests.{index}.custom_id: duplicate custom_id {custom_id!r} "
                f"(first used by requests.{seen[custom_id]}); custom_id must be unique "
                "within a batch."
            )
        seen[custom_id] = index
        params = item.get("params")
        if not isinstance(params, dict):
            raise InvalidRequest(f"requests.{index}.params: must be an object.")
        requests.append(RequestIn(custom_id=custom_id, params=params))
    return BatchIn(requests=requests)


async def create_batch(conn: AsyncConnection, tenant_id: int, batch: BatchIn) -> str:
    """Insert the batch, its requests and their queue rows; the caller owns the transaction."""
    batch_id = ids.batch_id()
    await conn.execute(
        queries["batch_insert"],
        {
            "id": batch_id,
            "tenant_id": tenant_id,
            "mode": batch.mode,
            "priority": batch.priority,
            "callback_url": batch.callback_url,
            "metadata": None if batch.metadata is None else msgspec.json.encode(batch.metadata).decode(),
            "request_count": len(batch.requests),
        },
    )
    encode = msgspec.json.encode
    await conn.execute(
        queries["requests_insert_and_defer"],
        {
            "batch_id": batch_id,
            "custom_ids": [r.custom_id for r in batch.requests],
            "params": [encode(r.params).decode() for r in batch.requests],
            "priorities": [r.priority or batch.priority for r in batch.requests],
            "queue": queue.QUEUE,
            "task": queue.PROCESS_REQUEST,
        },
    )
    return batch_id


async def get_batch(conn: AsyncConnection, tenant_id: int, batch_id: str) -> RowMapping:
    row = (
        await conn.execute(queries["batch_status_get"], {"id": batch_id, "tenant_id": tenant_id})
    ).mappings().first()
    if row is None:
        raise NotFound(f"Message batch {batch_id} not found.")
    return row


def result_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """One results line, shaped exactly as Anthropic's. The stored message or error arrives as
    JSON text and is spliced in as is (no decode and re-encode per line)."""
    status = row["status"]
    if status == "succeeded":
        result = {"type": "succeeded", "message": msgspec.Raw(row["result"].encode())}
    elif status == "errored":
        result = {"type": "errored", "error": msgspec.Raw(row["error"].encode())}
    else:
        result = {"type": status}
    return {"custom_id": row["custom_id"], "result": result}


async def stream_results(engine: AsyncEngine, batch_id: str) -> AsyncIterator[bytes]:
    """JSONL, one line per request in submission order, read through a server-side cursor so
    memory stays flat whatever the batch size."""
    encoder = msgspec.json.Encoder()
    async with engine.connect() as conn:
        result = await conn.stream(queries["batch_results"], {"batch_id": batch_id})
        async for rows in result.mappings().partitions(RESULTS_CHUNK_ROWS):
            chunk = bytearray()
            for row in rows:
                encoder.encode_into(result_line(row), chunk, len(chunk))
                chunk += b"\n"
            yield bytes(chunk)
