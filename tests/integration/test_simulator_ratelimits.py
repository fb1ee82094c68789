"""Per-model rate limits over real HTTP, as the official SDK sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx

from app.simulator import SimulatorConfig
from app.simulator.messages import estimate_tokens
from tests.integration.test_simulator_http import BODY, TEXT, running_simulator

MODEL = BODY["model"]
PREFIX = "anthropic-ratelimit-"


async def attempt(sdk: anthropic.AsyncAnthropic, **overrides: Any) -> tuple[int, httpx.Headers, Any]:
    """One call: (status, headers, parsed Message or the SDK's exception)."""
    try:
        raw = await sdk.messages.with_raw_response.create(**{**BODY, **overrides})
    except anthropic.APIStatusError as error:
        return error.status_code, error.response.headers, error  # type: ignore[return-value]
    return raw.status_code, raw.headers, await raw.parse()


def remaining(headers: Mapping[str, str], kind: str) -> int:
    return int(headers[f"{PREFIX}{kind}-remaining"])


async def get_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_simulator/stats")).json()  # type: ignore[no-any-return]


async def test_rpm_accepts_exactly_a_minute_of_requests() -> None:
    async with (
        running_simulator(SimulatorConfig(rpm=60)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        started = time.perf_counter()
        results = await asyncio.gather(*(attempt(sdk) for _ in range(70)))
        assert time.perf_counter() - started < 1.0, "too slow: the bucket refills one request per second"
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200] * 60 + [429] * 10
        for status, headers, result in results:
            assert headers[f"{PREFIX}requests-limit"] == "60"
            assert f"{PREFIX}input-tokens-limit" not in headers  # only configured limits
            if status == 429:
                assert isinstance(result, anthropic.RateLimitError)
                assert result.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
                assert int(headers["retry-after"]) >= 1
                assert remaining(headers, "requests") == 0
            else:
                assert "retry-after" not in headers
        successes = sorted(remaining(h, "requests") for s, h, _ in results if s == 200)
        assert successes == list(range(60)), "each accepted call took exactly one request"
        stats = await get_stats(url)
        assert stats["by_status"] == {"200": 60, "429": 10}
        assert stats["rate_limited"] == {MODEL: 10}
        assert sum(minute["calls"] for minute in stats["accepted_per_minute"]) == 60
        # The 429s consumed nothing: after ~1 s exactly one more request fits.
        await asyncio.sleep(1.05)
        assert (await attempt(sdk))[0] == 200
        assert (await attempt(sdk))[0] == 429
        # Another model has its own buckets.
        assert (await attempt(sdk, model="claude-sim-2"))[0] == 200


async def test_input_token_limit_rejects_without_consuming() -> None:
    big, small = "a" * 2400, "b" * 1520  # 600 and 380 input tokens
    async with (
        running_simulator(SimulatorConfig(itpm=1000)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        status, headers, _ = await attempt(sdk, messages=[{"role": "user", "content": big}])
        assert status == 200 and remaining(headers, "input-tokens") == 400
        status, headers, error = await attempt(sdk, messages=[{"role": "user", "content": big}])
        assert status == 429 and isinstance(error, anthropic.RateLimitError)
        assert remaining(headers, "input-tokens") == 400  # nothing taken by the 429
        assert int(headers["retry-after"]) == 12  # 200 tokens at 1000/60 per second, rounded up
        assert "1000 input tokens per minute" in error.message
        # Had the 429 consumed its 600 tokens, this would not fit.
        status, headers, _ = await attempt(sdk, messages=[{"role": "user", "content": small}])
        assert status == 200 and remaining(headers, "input-tokens") == 20
        assert (await get_stats(url))["rate_limited"] == {MODEL: 1}


async def test_output_tokens_are_reserved_then_refunded() -> None:
    config = SimulatorConfig(otpm=1000, latency_seconds=0.3)
    async with (
        running_simulator(config) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        # While the first call "generates", its max_tokens are reserved: the second cannot fit.
        first, second = await asyncio.gather(attempt(sdk, max_tokens=600), attempt(sdk, max_tokens=600))
        assert (first[0], second[0]) == (200, 429)
        assert remaining(second[1], "output-tokens") <= 410
        # Once answered, the unused reservation came back: only the real output counts.
        output = first[2].usage.output_tokens
        assert output == estimate_tokens("Summary: " + TEXT)
        assert 1000 - output <= remaining(first[1], "output-tokens") <= 1000 - output + 10
        assert (await attempt(sdk, max_tokens=600))[0] == 200
        # A request that can never fit a minute's limit is a 429 too.
        status, headers, error = await attempt(sdk, max_tokens=1001)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert "needs 1001 output tokens on its own" in error.message


async def test_headers_are_consistent_on_every_answer() -> None:
    # Small token limits refill slowly (50/s), so consecutive answers show each call's cost.
    # Slow refills (1 request a second; tokens within the tolerance below), so a loaded
    # machine's pauses between calls do not show up in the remaining counts.
    config = SimulatorConfig(rpm=60, itpm=600, otpm=600)
    async with (
        running_simulator(config) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        seen: list[tuple[int, int, int]] = []
        for _ in range(5):
            status, headers, message = await attempt(sdk)
            assert status == 200
            now = datetime.now(UTC)
            for kind, limit in (("requests", 60), ("input-tokens", 600), ("output-tokens", 600)):
                assert headers[f"{PREFIX}{kind}-limit"] == str(limit)
                reset = datetime.strptime(headers[f"{PREFIX}{kind}-reset"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                assert 0 <= (reset - now).total_seconds() <= 61
            seen.append(tuple(remaining(headers, k) for k in ("requests", "input-tokens", "output-tokens")))
            usage = message.usage
        requests, inputs, outputs = zip(*seen)
        assert list(requests) == [59, 58, 57, 56, 55]
        assert all(usage.input_tokens - 3 <= a - b <= usage.input_tokens + 1 for a, b in zip(inputs, inputs[1:]))
        assert all(usage.output_tokens - 3 <= a - b <= usage.output_tokens + 1 for a, b in zip(outputs, outputs[1:]))
        # Errors from validation carry no rate-limit headers and consume nothing.
        status, headers, _ = await attempt(sdk, max_tokens=0)
        assert status == 400 and not any(name.startswith(PREFIX) for name in headers)
        assert remaining((await attempt(sdk))[1], "requests") == 54
