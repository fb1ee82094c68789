"""The seed's HTTP API: submit a batch, read its status, stream its results.

As in the seed, submission enqueues one Celery task per request in a loop, and
status reads every request's result key on each call (O(n) per poll).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from bench.baseline import store
from bench.baseline.celery_app import call_claude
from bench.baseline.settings import RESULT_TTL_SECONDS, ids_key, result_key

#: Keys per MGET when streaming results.
CHUNK = 1000

app = FastAPI(title="baseline (seed design)")


class Item(BaseModel):
    custom_id: str
    params: dict[str, Any]


class NewBatch(BaseModel):
    requests: list[Item] = Field(min_length=1)


def _ids(batch_id: str) -> list[str]:
    """The batch's custom_ids, or 404."""
    ids = [raw.decode() for raw in store.connection().lrange(ids_key(batch_id), 0, -1)]
    if not ids:
        raise HTTPException(404, f"no batch {batch_id}")
    return ids


@app.get("/health")
def health() -> dict[str, bool]:
    """Ready when Redis answers."""
    return {"ok": bool(store.connection().ping())}


@app.post("/batches")
def create_batch(body: NewBatch) -> dict[str, str]:
    """Record the batch's ids, then enqueue one task per request."""
    batch_id = f"batch_{uuid.uuid4().hex}"
    redis = store.connection()
    redis.rpush(ids_key(batch_id), *(item.custom_id for item in body.requests))
    redis.expire(ids_key(batch_id), RESULT_TTL_SECONDS)
    for item in body.requests:
        call_claude.apply_async(args=(batch_id, item.custom_id, item.params))
    return {"id": batch_id}


@app.get("/batches/{batch_id}")
def batch_status(batch_id: str) -> dict[str, Any]:
    """Counts by outcome, from one MGET over every request's result key."""
    ids = _ids(batch_id)
    lines = store.connection().mget([result_key(batch_id, custom_id) for custom_id in ids])
    counts = {"processing": 0, "succeeded": 0, "errored": 0}
    for raw in lines:
        outcome = "processing" if raw is None else json.loads(raw)["result"]["type"]
        counts[outcome] += 1
    status = "in_progress" if counts["processing"] else "ended"
    return {"id": batch_id, "processing_status": status, "request_counts": counts}


@app.get("/batches/{batch_id}/results")
def batch_results(batch_id: str) -> StreamingResponse:
    """Every stored result line as JSONL, in submission order (missing ones skipped)."""
    ids = _ids(batch_id)

    def lines() -> Iterator[bytes]:
        redis = store.connection()
        for start in range(0, len(ids), CHUNK):
            keys = [result_key(batch_id, custom_id) for custom_id in ids[start:start + CHUNK]]
            yield b"".join(raw + b"\n" for raw in redis.mget(keys) if raw is not None)

    return StreamingResponse(lines(), media_type="application/x-jsonl")
