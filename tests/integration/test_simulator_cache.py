"""Prompt caching over real HTTP, as the official SDK parses it: usage fields, TTL split,
per-model entries, the minimum length, ITPM accounting and the stats counters."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Usage

from app.simulator import SimulatorConfig
from tests.integration.test_simulator_http import running_simulator

MODEL = "claude-sim-1"  # minimum cacheable prefix: the default 1024 tokens
QUESTION = "Which regions grew fastest last quarter?"  # 10 tokens
DOCUMENT = "The quarterly report covers every region in detail. " * 160  # 8320 chars = 2080 tokens
DOCUMENT_TOKENS = 2080


def system(text: str = DOCUMENT, ttl: str | None = None, *, marked: bool = True) -> list[dict[str, Any]]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if marked:
        block["cache_control"] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return [block]


async def ask(sdk: anthropic.AsyncAnthropic, model: str = MODEL, **params: Any) -> Usage:
    params.setdefault("system", system())
    message = await sdk.messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": QUESTION}], **params
    )
    return message.usage


def split(usage: Usage) -> tuple[int, int, int, int, int]:
    """(input, cache read, cache creation, of which 5m, of which 1h) as the SDK parsed them."""
    assert usage.cache_creation is not None
    return (
        usage.input_tokens,
        usage.cache_read_input_tokens or 0,
        usage.cache_creation_input_tokens or 0,
        usage.cache_creation.ephemeral_5m_input_tokens,
        usage.cache_creation.ephemeral_1h_input_tokens,
    )


async def get_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_simulator/stats")).json()  # type: ignore[no-any-return]


@pytest.fixture
async def served() -> Any:
    async with (
        running_simulator(SimulatorConfig()) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        yield url, sdk


async def test_first_call_writes_the_prefix_and_the_second_reads_it(served: Any) -> None:
    url, sdk = served
    assert split(await ask(sdk)) == (10, 0, DOCUMENT_TOKENS, DOCUMENT_TOKENS, 0)
    assert split(await ask(sdk)) == (10, DOCUMENT_TOKENS, 0, 0, 0)
    # Another question after the same cached system prompt still reads it.
    message = await sdk.messages.create(
        model=MODEL, max_tokens=64, system=system(), messages=[{"role": "user", "content": "And costs?"}]
    )
    assert split(message.usage) == (3, DOCUMENT_TOKENS, 0, 0, 0)
    stats = await get_stats(url)
    assert (stats["cache_reads"], stats["cache_writes"]) == (2, 1)


async def test_prefix_below_the_minimum_is_not_cached(served: Any) -> None:
    url, sdk = served
    short = "x" * (4 * 1023)  # 1023 tokens, one short of the minimum
    for _ in range(2):
        assert split(await ask(sdk, system=system(short))) == (1033, 0, 0, 0, 0)
    # Haiku 4.5 needs 4096 tokens: the 2080-token document is not cached there.
    for _ in range(2):
        assert split(await ask(sdk, model="claude-haiku-4-5", system=system())) == (2090, 0, 0, 0, 0)
    stats = await get_stats(url)
    assert (stats["cache_reads"], stats["cache_writes"]) == (0, 0)


async def test_without_cache_control_nothing_is_cached(served: Any) -> None:
    url, sdk = served
    for _ in range(2):
        assert split(await ask(sdk, system=system(marked=False))) == (2090, 0, 0, 0, 0)
    assert (await get_stats(url))["cache_writes"] == 0


async def test_1h_ttl_is_reported_apart(served: Any) -> None:
    _url, sdk = served
    assert split(await ask(sdk, system=system(ttl="1h"))) == (10, 0, DOCUMENT_TOKENS, 0, DOCUMENT_TOKENS)
    assert split(await ask(sdk, system=system(ttl="1h"))) == (10, DOCUMENT_TOKENS, 0, 0, 0)
    # 1h system block, then a 5m breakpoint on the question: one segment per TTL.
    question = "Explain the regional figures in detail, one region at a time. " * 20  # 1240 chars = 310 tokens
    message = await sdk.messages.create(
        model="claude-sim-2", max_tokens=64, system=system(ttl="1h"),
        messages=[{"role": "user", "content": [{"type": "text", "text": question, "cache_control": {"type": "ephemeral"}}]}],
    )
    assert split(message.usage) == (0, 0, DOCUMENT_TOKENS + 310, 310, DOCUMENT_TOKENS)


async def test_another_model_is_a_cache_miss(served: Any) -> None:
    url, sdk = served
    assert split(await ask(sdk))[2] == DOCUMENT_TOKENS
    assert split(await ask(sdk, model="claude-sim-2")) == (10, 0, DOCUMENT_TOKENS, DOCUMENT_TOKENS, 0)
    assert split(await ask(sdk, model="claude-sim-2"))[1] == DOCUMENT_TOKENS
    assert (await get_stats(url))["cache_writes"] == 2


async def test_tools_and_top_level_cache_control(served: Any) -> None:
    _url, sdk = served
    tools: list[Any] = [
        {"name": "report_lookup", "description": DOCUMENT, "input_schema": {"type": "object", "properties": {}},
         "cache_control": {"type": "ephemeral"}},
    ]
    first = await sdk.messages.create(
        model=MODEL, max_tokens=64, tools=tools, messages=[{"role": "user", "content": QUESTION}]
    )
    tool_tokens = first.usage.cache_creation_input_tokens or 0
    assert tool_tokens > DOCUMENT_TOKENS and first.usage.input_tokens == 10  # the definition counts as input
    # Top-level cache_control marks the last block (the question): the tools prefix is read.
    second = await sdk.messages.create(
        model=MODEL, max_tokens=64, tools=tools, messages=[{"role": "user", "content": QUESTION}],
        cache_control={"type": "ephemeral"},
    )
    assert split(second.usage) == (0, tool_tokens, 10, 10, 0)


async def test_invalid_cache_control_is_a_400(served: Any) -> None:
    _url, sdk = served
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ask(sdk, system=[{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}])
    assert caught.value.body["error"]["message"].startswith("system.0.cache_control.ttl")  # type: ignore[index]


async def test_disabled_prompt_cache_counts_everything_as_input() -> None:
    async with (
        running_simulator(SimulatorConfig(prompt_cache=False)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        for _ in range(2):
            assert split(await ask(sdk)) == (2090, 0, 0, 0, 0)
        assert (await get_stats(url))["cache_writes"] == 0


async def test_cache_reads_do_not_count_toward_itpm() -> None:
    limit = 5000
    async with (
        running_simulator(SimulatorConfig(itpm=limit)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        remaining = []
        for _ in range(10):
            raw = await sdk.messages.with_raw_response.create(
                model=MODEL, max_tokens=64, system=system(), messages=[{"role": "user", "content": QUESTION}]
            )
            remaining.append(int(raw.headers["anthropic-ratelimit-input-tokens-remaining"]))
        # The write takes 2090 (input + creation); each read only its 10 uncached tokens
        # (the bucket refills 83 tokens/s meanwhile, so allow a little slack).
        assert limit - 2090 <= remaining[0] <= limit - 2090 + 5
        assert all(-1 <= later - earlier + 10 <= 5 for earlier, later in zip(remaining, remaining[1:]))
        assert (await get_stats(url))["by_status"] == {"200": 10}
    # Without the cache the same calls exhaust the bucket on the third one.
    async with (
        running_simulator(SimulatorConfig(itpm=limit, prompt_cache=False)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        await ask(sdk)
        await ask(sdk)
        with pytest.raises(anthropic.RateLimitError):
            await ask(sdk)


async def test_concurrent_first_calls_all_write_and_later_calls_read() -> None:
    """An entry is readable once its first response begins: calls in flight together all write."""
    async with (
        running_simulator(SimulatorConfig(latency_seconds=0.2)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        together = await asyncio.gather(*(ask(sdk) for _ in range(3)))
        assert [split(u)[2] for u in together] == [DOCUMENT_TOKENS] * 3
        assert split(await ask(sdk))[1] == DOCUMENT_TOKENS
        stats = await get_stats(url)
        assert (stats["cache_reads"], stats["cache_writes"]) == (1, 3)
