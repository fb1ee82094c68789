"""The seed's result store: one JSON line per request in Redis, under a TTL."""
from __future__ import annotations

import json
import os
from typing import Any

import redis

from bench.baseline.settings import REDIS_URL, RESULT_TTL_SECONDS, result_key

_client: tuple[int, redis.Redis] | None = None


def connection() -> redis.Redis:
    """This process's Redis client (re-made after a fork: prefork children must not share sockets)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(REDIS_URL))
    return _client[1]


def succeeded(custom_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """A results line in the Message Batches format, for an answered request."""
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def errored(custom_id: str, exc: BaseException) -> dict[str, Any]:
    """A results line for a request that failed for good (not retryable, or out of retries)."""
    status = getattr(exc, "status_code", None)
    error = {"type": type(exc).__name__, "message": str(exc)[:500], "status": status}
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


def save(batch_id: str, custom_id: str, line: dict[str, Any]) -> None:
    """Store one result line; a later write (e.g. a duplicate run) overwrites it."""
    connection().set(result_key(batch_id, custom_id), json.dumps(line), ex=RESULT_TTL_SECONDS)
