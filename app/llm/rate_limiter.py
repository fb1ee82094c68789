"""The fleet-wide rate limiter: requests, input tokens and output tokens per minute, per
provider key and model, held in Postgres and taken atomically (``batchmill_rate_acquire_v1``)
so any number of workers together stay at the limit, not over it.

Before a call: its input tokens are estimated from the text (the provider's count_tokens
endpoint is not available offline) and ``max_tokens`` output tokens are reserved. After it:
the estimate is corrected with the real usage (cache reads do not count toward the input
limit), limits are learned from the ``anthropic-ratelimit-*`` headers, and a 429 pauses the
model for every worker until ``retry-after``.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.llm.outcome import CallOutcome
from app.sql import queries

CHARS_PER_TOKEN = 4
UNLIMITED_RECHECK_SECONDS = 1.0
"""A model found without buckets is not asked about again for this long: no round trips
for unlimited models, and a limit set meanwhile takes effect within this delay."""
HEADER = "anthropic-ratelimit-"
LIMIT_KINDS = {"requests": "rpm", "input-tokens": "itpm", "output-tokens": "otpm"}


def key_scope(api_key: str) -> str:
    """Buckets belong to a provider key; they are named by a fingerprint, never the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Need:
    """What one call takes from the buckets before it goes out."""

    input_tokens: int
    output_tokens: int


def _texts(content: Any) -> Iterable[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping):
                for key in ("text", "content"):
                    yield from _texts(block.get(key))


def estimate_need(params: Mapping[str, Any]) -> Need:
    """About four characters per token over the system prompt, messages and tools."""
    chars = sum(len(t) for t in _texts(params.get("system")))
    for message in params.get("messages") or ():
        if isinstance(message, Mapping):
            chars += sum(len(t) for t in _texts(message.get("content")))
    if params.get("tools"):
        chars += len(str(params["tools"]))
    return Need(input_tokens=max(1, math.ceil(chars / CHARS_PER_TOKEN)),
                output_tokens=int(params.get("max_tokens") or 0))


def _number(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


class RateLimiter:
    def __init__(self, engine: AsyncEngine, api_key: str,
                 recheck_seconds: float = UNLIMITED_RECHECK_SECONDS) -> None:
        self.engine = engine
        self.scope = key_scope(api_key)
        self.recheck_seconds = recheck_seconds
        self._unlimited_until: dict[str, float] = {}

    def _unlimited(self, model: str) -> bool:
        return time.monotonic() < self._unlimited_until.get(model, 0.0)

    async def _run(self, query: str, params: dict[str, Any]) -> Any:
        """One statement in autocommit: the bucket row is locked for that statement only."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(queries[query], {"scope": self.scope, **params})
            return result.first() if result.returns_rows else None

    async def acquire(self, model: str, need: Need) -> float:
        """Take capacity for one call: 0.0 if taken, else the seconds to wait (nothing taken)."""
        if self._unlimited(model):
            return 0.0
        row = await self._run("rate_acquire", {"model": model, "input_tokens": need.input_tokens,
                                               "output_tokens": need.output_tokens})
        if not row.limited:
            self._unlimited_until[model] = time.monotonic() + self.recheck_seconds
        return float(row.wait)

    async def observe(self, model: str, need: Need, outcome: CallOutcome) -> None:
        """Correct the estimate with what the call used, and learn from the provider."""
        if outcome.http_status is not None and not self._unlimited(model):
            usage = outcome.usage
            used_input = usage.input_tokens + usage.cache_creation_tokens  # reads are free
            await self._run("rate_settle", {
                "model": model, "input_refund": need.input_tokens - used_input,
                "output_refund": need.output_tokens - usage.output_tokens})
        headers = outcome.rate_limit_headers
        throttled = outcome.http_status == 429
        if not headers and not throttled:
            return
        learned: dict[str, Any] = {}
        for kind, column in LIMIT_KINDS.items():
            learned[column] = _number(headers, f"{HEADER}{kind}-limit")
            learned[f"{kind.split('-')[0]}_remaining"] = _number(headers,
                                                                 f"{HEADER}{kind}-remaining")
        pause = (outcome.error.retry_after_seconds if outcome.error else None) or (
            1.0 if throttled else None)
        await self._run("rate_learn", {"model": model, **learned, "throttled": throttled,
                                       "pause_seconds": pause if throttled else None})
        self._unlimited_until.pop(model, None)  # the provider may just have revealed a limit
