"""The fleet-wide limiter: atomic under races, waits instead of over-granting, corrected by
real usage, taught by the provider's headers, paused by its 429s."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.llm.outcome import CallError, CallOutcome, Usage
from app.llm.rate_limiter import Need, RateLimiter, estimate_need, key_scope
from app.settings import DatabaseUrl

MODEL = "claude-haiku-4-5"
KEY = "sk-test"


async def set_limits(engine: AsyncEngine, *, rpm: int | None = None, itpm: int | None = None,
                     otpm: int | None = None) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO rate_limits (scope, model, rpm, itpm, otpm, requests_available,"
            " input_available, output_available)"
            " VALUES (:s, :m, :rpm, :itpm, :otpm, coalesce(:rpm, 0), coalesce(:itpm, 0),"
            " coalesce(:otpm, 0))"),
            {"s": key_scope(KEY), "m": MODEL, "rpm": rpm, "itpm": itpm, "otpm": otpm})


async def status(engine: AsyncEngine) -> dict[str, object]:
    async with engine.connect() as conn:
        return dict((await conn.execute(text(
            "SELECT * FROM rate_limit_status_v1 WHERE model = :m"), {"m": MODEL})).mappings().one())


def outcome(status_code: int, *, headers: dict[str, str] | None = None, usage: Usage | None = None,
            retry_after: float | None = None) -> CallOutcome:
    error = None if status_code == 200 else CallError(
        "rate_limit_error", "slow down", retryable=True, retry_after_seconds=retry_after)
    return CallOutcome(model=MODEL, started_at=dt.datetime.now(dt.UTC), latency_seconds=0.1,
                       http_status=status_code, provider_request_id=None,
                       usage=usage or Usage(),
                       error=error, rate_limit_headers=headers or {})


async def test_racing_workers_never_over_grant(engine: AsyncEngine,
                                               database_url: DatabaseUrl) -> None:
    await set_limits(engine, rpm=10, itpm=10**6, otpm=10**6)
    other_engine = create_engine(database_url, pool_size=10)  # a second worker process
    try:
        limiters = [RateLimiter(engine, KEY), RateLimiter(other_engine, KEY)]
        waits = await asyncio.gather(*(
            limiters[i % 2].acquire(MODEL, Need(10, 10)) for i in range(100)))
    finally:
        await other_engine.dispose()
    granted = [w for w in waits if w == 0]
    assert len(granted) == 10  # a full minute's worth, not one more
    assert all(w > 0 for w in waits if w != 0)
    state = await status(engine)
    assert state["granted"] == 10 and state["waits"] == 90


async def test_token_budgets_and_waits(engine: AsyncEngine) -> None:
    await set_limits(engine, rpm=1000, itpm=600, otpm=60_000)
    limiter = RateLimiter(engine, KEY)
    assert await limiter.acquire(MODEL, Need(500, 100)) == 0
    wait = await limiter.acquire(MODEL, Need(500, 100))
    # 100 tokens left, 400 more needed at 10 tokens/s.
    assert 39 < wait <= 40
    # A need bigger than a whole minute waits for a full bucket instead of forever.
    assert 0 < await limiter.acquire(MODEL, Need(10_000, 1)) <= 60


async def test_real_usage_corrects_the_estimate(engine: AsyncEngine) -> None:
    await set_limits(engine, rpm=1000, itpm=10_000, otpm=1_000)
    limiter = RateLimiter(engine, KEY)
    need = Need(input_tokens=2_000, output_tokens=1_000)  # reserves the whole output minute
    assert await limiter.acquire(MODEL, need) == 0
    assert await limiter.acquire(MODEL, Need(1, 10)) > 0
    # It used 800 input (+ 5,000 cache reads, which do not count) and 50 output tokens.
    await limiter.observe(MODEL, need, outcome(200, usage=Usage(
        input_tokens=800, output_tokens=50, cache_read_tokens=5_000)))
    state = await status(engine)
    assert 9_150 <= state["input_tokens_available"] <= 9_300  # type: ignore[operator]
    assert 940 <= state["output_tokens_available"] <= 1_000  # type: ignore[operator]
    assert await limiter.acquire(MODEL, Need(1, 10)) == 0


async def test_headers_teach_limits_and_a_429_pauses_the_model(engine: AsyncEngine) -> None:
    limiter = RateLimiter(engine, KEY)
    assert await limiter.acquire(MODEL, Need(10, 10)) == 0  # nothing known yet: no limit
    await limiter.observe(MODEL, Need(10, 10), outcome(200, headers={
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "3",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7990",
    }))
    state = await status(engine)
    assert (state["rpm"], state["itpm"], state["otpm"], state["source"]) == (50, None, 8000,
                                                                            "learned")
    assert 3 <= state["requests_available"] < 3.5  # type: ignore[operator]
    assert [await limiter.acquire(MODEL, Need(1, 1)) == 0 for _ in range(4)] == [
        True, True, True, False]

    await limiter.observe(MODEL, Need(1, 1), outcome(429, retry_after=7))
    state = await status(engine)
    assert state["paused"] and state["throttled"] == 1
    wait = await RateLimiter(engine, KEY).acquire(MODEL, Need(1, 1))  # any worker
    assert 6 < wait <= 7


def test_estimate_counts_text_and_reserves_max_tokens() -> None:
    need = estimate_need({"model": MODEL, "max_tokens": 300, "system": "x" * 400,
                          "messages": [{"role": "user", "content": "y" * 800},
                                       {"role": "assistant", "content": [
                                           {"type": "text", "text": "z" * 40}]}]})
    assert need == Need(input_tokens=310, output_tokens=300)


@pytest.mark.parametrize("other_key", ["sk-other"])
async def test_buckets_are_per_provider_key(engine: AsyncEngine, other_key: str) -> None:
    await set_limits(engine, rpm=1, itpm=10**6, otpm=10**6)
    assert await RateLimiter(engine, KEY).acquire(MODEL, Need(1, 1)) == 0
    assert await RateLimiter(engine, KEY).acquire(MODEL, Need(1, 1)) > 0
    assert await RateLimiter(engine, other_key).acquire(MODEL, Need(1, 1)) == 0
