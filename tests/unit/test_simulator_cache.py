"""Prompt caching of the simulator: the cache object (TTL, LRU, per model), the usage rules
of ``PromptCache.plan`` and the validation of ``cache_control``, without a server."""

from __future__ import annotations

import tracemalloc
from typing import Any

import anthropic.types
import pytest

from app.simulator import SimulatorConfig
from app.llm.models import DEFAULT_MIN_CACHEABLE_TOKENS, min_cacheable_tokens
from app.simulator.cache import LOOKBACK_BLOCKS, TTL_SECONDS, PromptCache
from app.simulator.config import DEFAULT_PROMPT_CACHE_MAX_ENTRIES
from app.simulator.messages import (
    NO_CACHE_USAGE,
    CacheUsage,
    InvalidRequestError,
    MessagesRequest,
    build_message,
    count_input_tokens,
    validate_request,
)
from app.simulator.stats import SimulatorStats

MODEL = "claude-sim-1"
QUESTION = "What does the document say about revenue?"  # 11 tokens


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text_of(tokens: int, letter: str = "d") -> str:
    """A text the simulator estimates at exactly ``tokens`` tokens."""
    return letter * (4 * tokens)


def mark(text: str, ttl: str | None = None) -> dict[str, Any]:
    """A text block carrying ``cache_control`` (default TTL when ``ttl`` is None)."""
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        control["ttl"] = ttl
    return {"type": "text", "text": text, "cache_control": control}


def request(
    system: object = None, messages: list[dict[str, Any]] | None = None, model: str = MODEL, **extra: Any
) -> MessagesRequest:
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "messages": messages or [{"role": "user", "content": QUESTION}],
        **extra,
    }
    if system is not None:
        payload["system"] = system
    return validate_request(payload, max_output_tokens=1000)


def run(cache: PromptCache, req: MessagesRequest) -> CacheUsage:
    """One answered call: plan, commit, and check the usage invariant on the response."""
    plan = cache.plan(req)
    usage = NO_CACHE_USAGE if plan is None else plan.usage
    if plan is not None:
        cache.commit(plan)
    body = build_message(req, message_id="msg_x", summary_words=5, cache=usage)
    parsed = anthropic.types.Message.model_validate(body).usage
    assert parsed.input_tokens >= 0
    assert parsed.input_tokens + (parsed.cache_creation_input_tokens or 0) + (
        parsed.cache_read_input_tokens or 0
    ) == count_input_tokens(req)
    assert parsed.cache_creation is not None
    assert parsed.cache_creation.ephemeral_5m_input_tokens + parsed.cache_creation.ephemeral_1h_input_tokens == (
        parsed.cache_creation_input_tokens
    )
    return usage


# --- the minimum-length table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-haiku-4-5", 4096),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-sonnet-4-20250514", 1024),
        ("claude-sonnet-4-5", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-opus-4-20250514", 1024),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-3-7-sonnet-20250219", 1024),
        ("claude-sim-1", DEFAULT_MIN_CACHEABLE_TOKENS),
        ("claude-opus-4-50", 1024),  # a prefix must end at "-" or the end of the name
    ],
)
def test_min_cacheable_tokens_per_model(model: str, minimum: int) -> None:
    assert min_cacheable_tokens(model) == minimum
    assert DEFAULT_MIN_CACHEABLE_TOKENS == 1024


# --- the cache object --------------------------------------------------------------------------


def test_store_then_hit_miss_and_5m_expiry() -> None:
    clock = FakeClock()
    cache = PromptCache(clock=clock)
    assert not cache.contains(MODEL, b"k")
    cache.store(MODEL, b"k", "5m")
    assert cache.contains(MODEL, b"k") and not cache.contains(MODEL, b"other")
    clock.now += TTL_SECONDS["5m"] - 0.001
    assert cache.contains(MODEL, b"k")
    clock.now += 0.001  # exactly 5 minutes after the write
    assert not cache.contains(MODEL, b"k")
    assert len(cache) == 0, "an expired entry is dropped when seen"


def test_1h_entry_outlives_5m_and_refresh_restarts_the_ttl() -> None:
    clock = FakeClock()
    cache = PromptCache(clock=clock)
    cache.store(MODEL, b"short", "5m")
    cache.store(MODEL, b"long", "1h")
    clock.now += 301
    assert not cache.contains(MODEL, b"short") and cache.contains(MODEL, b"long")
    clock.now += 3000  # 3301 s after the write
    cache.store(MODEL, b"long", "5m")  # a read refresh with a 5m mark keeps the live entry's hour
    clock.now += 3599
    assert cache.contains(MODEL, b"long")
    clock.now += 1
    assert not cache.contains(MODEL, b"long")
    # A refresh before expiry restarts the 5 minutes.
    cache.store(MODEL, b"short", "5m")
    clock.now += 200
    cache.store(MODEL, b"short", "5m")
    clock.now += 200
    assert cache.contains(MODEL, b"short")


def test_entries_are_per_model() -> None:
    cache = PromptCache(clock=FakeClock())
    cache.store("claude-a", b"k", "5m")
    assert cache.contains("claude-a", b"k") and not cache.contains("claude-b", b"k")


def test_lru_bound_evicts_the_least_recently_used() -> None:
    cache = PromptCache(max_entries=3, clock=FakeClock())
    for key in (b"a", b"b", b"c"):
        cache.store(MODEL, key, "5m")
    cache.store(MODEL, b"a", "5m")  # a is now the most recently used
    cache.store(MODEL, b"d", "5m")
    assert len(cache) == 3
    assert [cache.contains(MODEL, k) for k in (b"a", b"b", b"c", b"d")] == [True, False, True, True]
    with pytest.raises(ValueError, match="max_entries must be >= 1"):
        PromptCache(max_entries=0)


def test_memory_per_entry_is_bounded() -> None:
    """The documented ~270 bytes per entry (its 32-byte digest included): the default cap of
    100k entries stays under ~30 MB whatever the prompt sizes."""
    cache = PromptCache(max_entries=DEFAULT_PROMPT_CACHE_MAX_ENTRIES, clock=FakeClock())
    count = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            cache.store(MODEL, i.to_bytes(32, "little"), "5m")
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_entry < 320, per_entry


# --- usage rules --------------------------------------------------------------------------------


def test_first_call_writes_second_reads_and_input_is_what_follows_the_breakpoint() -> None:
    cache = PromptCache(clock=FakeClock())
    req = request(system=[mark(text_of(2000))])
    assert count_input_tokens(req) == 2011
    assert run(cache, req) == CacheUsage(read_tokens=0, write_5m_tokens=2000)
    assert run(cache, req) == CacheUsage(read_tokens=2000)
    # Another question after the same system prompt reads it too.
    other = request(system=[mark(text_of(2000))], messages=[{"role": "user", "content": "Short?"}])
    assert run(cache, other) == CacheUsage(read_tokens=2000)


def test_each_read_refreshes_the_ttl_and_an_expired_prefix_is_written_again() -> None:
    clock = FakeClock()
    cache = PromptCache(clock=clock)
    req = request(system=[mark(text_of(1500))])
    assert run(cache, req).write_5m_tokens == 1500
    for _ in range(3):  # 12 minutes in all, but never 5 minutes without a read
        clock.now += 240
        assert run(cache, req).read_tokens == 1500
    clock.now += 300
    assert run(cache, req) == CacheUsage(write_5m_tokens=1500)


def test_prefix_below_the_minimum_is_not_cached() -> None:
    cache = PromptCache(clock=FakeClock())
    short = request(system=[mark(text_of(1023))])
    assert cache.plan(short) is None
    assert run(cache, short) == NO_CACHE_USAGE
    assert run(cache, short) == NO_CACHE_USAGE and len(cache) == 0
    exact = request(system=[mark(text_of(1024))])
    assert run(cache, exact) == CacheUsage(write_5m_tokens=1024)
    # The minimum is per model: 2000 tokens are too few for Haiku 4.5 (4096) and Haiku 3.5 (2048).
    for model in ("claude-haiku-4-5", "claude-3-5-haiku-20241022"):
        assert cache.plan(request(system=[mark(text_of(2000))], model=model)) is None
    assert run(cache, request(system=[mark(text_of(4096))], model="claude-opus-4-6")).write_5m_tokens == 4096


def test_without_cache_control_nothing_is_cached() -> None:
    cache = PromptCache(clock=FakeClock())
    req = request(system=[{"type": "text", "text": text_of(5000)}])
    assert req.cache_breakpoints == ()
    assert run(cache, req) == NO_CACHE_USAGE and run(cache, req) == NO_CACHE_USAGE
    assert len(cache) == 0


def test_1h_ttl_is_accounted_separately_and_mixed_ttls_split_by_segment() -> None:
    clock = FakeClock()
    cache = PromptCache(clock=clock)
    hour = request(system=[mark(text_of(1200), "1h")])
    assert run(cache, hour) == CacheUsage(write_1h_tokens=1200)
    clock.now += 1800
    assert run(cache, hour) == CacheUsage(read_tokens=1200)
    # 1h block (1200 tokens) then a 5m block (+800): the 1h prefix is read, the 5m segment written.
    mixed = request(system=[mark(text_of(1200), "1h"), mark(text_of(800, "e"), "5m")])
    assert run(cache, mixed) == CacheUsage(read_tokens=1200, write_5m_tokens=800)
    assert run(cache, mixed) == CacheUsage(read_tokens=2000)
    # From scratch on another model: both segments written, each under its own TTL.
    fresh = request(system=[mark(text_of(1200), "1h"), mark(text_of(800, "e"), "5m")], model="claude-sim-2")
    assert run(cache, fresh) == CacheUsage(write_5m_tokens=800, write_1h_tokens=1200)


def test_same_prefix_on_another_model_is_a_separate_entry() -> None:
    cache = PromptCache(clock=FakeClock())
    assert run(cache, request(system=[mark(text_of(1500))])).write_tokens == 1500
    assert run(cache, request(system=[mark(text_of(1500))], model="claude-sim-2")).write_tokens == 1500
    assert run(cache, request(system=[mark(text_of(1500))], model="claude-sim-2")).read_tokens == 1500


def test_longest_hit_wins_and_later_breakpoints_are_written() -> None:
    cache = PromptCache(clock=FakeClock())
    document = [{"type": "text", "text": text_of(1100)}, mark(text_of(100, "x"))]  # breakpoint at 1200 tokens

    def ask(question: str) -> MessagesRequest:
        return request(system=document, messages=[{"role": "user", "content": [mark(question)]}])

    long_question = text_of(300, "q")
    first = ask(long_question)
    assert first.cache_breakpoints == ((1, "5m"), (2, "5m"))
    assert run(cache, first) == CacheUsage(write_5m_tokens=1500)  # entries at 1200 and at 1500
    assert run(cache, first) == CacheUsage(read_tokens=1500)  # the longest prefix
    other = ask(text_of(50, "z"))
    assert run(cache, other) == CacheUsage(read_tokens=1200, write_5m_tokens=50)
    # Changing a block before the breakpoint changes the prefix.
    changed = request(system=[{"type": "text", "text": text_of(1100, "c")}, mark(text_of(100, "x"))])
    assert run(cache, changed) == CacheUsage(write_5m_tokens=1200)


def test_growing_conversation_hits_the_previous_turn_through_the_lookback() -> None:
    cache = PromptCache(clock=FakeClock())
    history: list[dict[str, Any]] = [{"role": "user", "content": [mark(text_of(1500))]}]
    assert run(cache, request(messages=history)) == CacheUsage(write_5m_tokens=1500)
    # Next turn: the breakpoint moves to the new last message; the old one is unmarked.
    history = [
        {"role": "user", "content": text_of(1500)},
        {"role": "assistant", "content": "An answer."},  # 3 tokens
        {"role": "user", "content": [mark(text_of(20, "n"))]},
    ]
    assert run(cache, request(messages=history)) == CacheUsage(read_tokens=1500, write_5m_tokens=23)
    # More than LOOKBACK_BLOCKS blocks later, the old entry is out of reach.
    far = request(
        messages=[
            {"role": "user", "content": [{"type": "text", "text": text_of(1500)}]
             + [{"type": "text", "text": f"extra block {i}"} for i in range(LOOKBACK_BLOCKS)]
             + [mark("last")]},
        ]
    )
    assert run(cache, far).read_tokens == 0


def test_cache_key_ignores_cache_control_and_key_order_but_not_roles_or_message_boundaries() -> None:
    cache = PromptCache(clock=FakeClock())
    tools = [{"name": "lookup", "description": text_of(1300), "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral"}}]
    first = request(tools=tools)
    assert first.cache_breakpoints == ((0, "5m"),)
    assert count_input_tokens(first) == 11 + first_tool_tokens(first)
    assert run(cache, first).write_5m_tokens == first_tool_tokens(first)
    reordered = [{"input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral", "ttl": "5m"},
                  "description": text_of(1300), "name": "lookup"}]
    assert run(cache, request(tools=reordered)).read_tokens == first_tool_tokens(first)
    # A later marked system block: tools are the start of its prefix, so the tools entry is read.
    with_system = request(tools=reordered, system=[mark("You are terse.")])
    assert run(cache, with_system) == CacheUsage(read_tokens=first_tool_tokens(first), write_5m_tokens=4)

    def as_turns(roles: tuple[str, str]) -> MessagesRequest:
        return request(messages=[
            {"role": roles[0], "content": text_of(600)},
            {"role": roles[1], "content": [mark(text_of(600))]},
            {"role": "user", "content": QUESTION},
        ])

    assert run(cache, as_turns(("user", "assistant"))).write_tokens == 1200
    assert run(cache, as_turns(("assistant", "user"))).write_tokens == 1200, "roles are part of the prefix"
    split = request(messages=[{"role": "user", "content": [{"type": "text", "text": text_of(600)}, mark(text_of(600))]}])
    assert run(cache, split).write_tokens == 1200, "one message of two blocks is not two messages"


def first_tool_tokens(req: MessagesRequest) -> int:
    return -(-len(req.tools[0]) // 4)


def test_plan_changes_nothing_until_committed() -> None:
    cache = PromptCache(clock=FakeClock())
    req = request(system=[mark(text_of(1500))])
    plan = cache.plan(req)
    assert plan is not None and cache.plan(req) == plan and len(cache) == 0
    cache.commit(plan)
    assert len(cache) == 1 and cache.plan(req) is not None and cache.plan(req).usage.read_tokens == 1500  # type: ignore[union-attr]


def test_top_level_cache_control_marks_the_last_non_empty_block() -> None:
    cache = PromptCache(clock=FakeClock())
    messages = [{"role": "user", "content": text_of(1500)}, {"role": "assistant", "content": ""}]
    req = request(system="Be brief.", messages=messages, cache_control={"type": "ephemeral", "ttl": "1h"})
    assert req.cache_breakpoints == ((1, "1h"),)  # the user message, not the empty prefill
    assert run(cache, req) == CacheUsage(write_1h_tokens=1503)
    # An explicit mark on the last block wins over the top-level one (still one breakpoint).
    explicit = request(messages=[{"role": "user", "content": [mark(text_of(10))]}], cache_control={"type": "ephemeral"})
    assert explicit.cache_breakpoints == ((0, "5m"),)


def test_stats_count_calls_that_read_and_wrote() -> None:
    stats = SimulatorStats()
    stats.record_cache(read=True, wrote=False)
    stats.record_cache(read=True, wrote=True)
    stats.record_cache(read=False, wrote=True)
    stats.record_cache(read=False, wrote=True)
    snap = stats.snapshot()
    assert (snap.cache_reads, snap.cache_writes) == (2, 3)
    stats.reset()
    assert (stats.snapshot().cache_reads, stats.snapshot().cache_writes) == (0, 0)


def test_config_defaults_and_validation() -> None:
    config = SimulatorConfig()
    assert config.prompt_cache is True and config.prompt_cache_max_entries == DEFAULT_PROMPT_CACHE_MAX_ENTRIES == 100_000
    with pytest.raises(ValueError, match="prompt_cache_max_entries must be >= 1"):
        SimulatorConfig(prompt_cache_max_entries=0)


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"system": [{"type": "text", "text": "s", "cache_control": "yes"}]},
         "system.0.cache_control: Input should be a valid dictionary"),
        ({"system": [{"type": "text", "text": "s", "cache_control": {}}]}, "system.0.cache_control.type: Field required"),
        ({"system": [{"type": "text", "text": "s", "cache_control": {"type": "persistent"}}]},
         "system.0.cache_control.type: Input should be 'ephemeral'"),
        ({"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "10m"}}]},
         "system.0.cache_control.ttl: Input should be '5m' or '1h'"),
        ({"messages": [{"role": "user", "content": [mark("a"), {"type": "text", "text": "b", "cache_control": 1}]}]},
         "messages.0.content.1.cache_control: Input should be a valid dictionary"),
        ({"cache_control": {"type": "ephemeral", "ttl": 5}}, "cache_control.ttl: Input should be '5m' or '1h'"),
        ({"tools": {"name": "t"}}, "tools: Input should be a valid list"),
        ({"tools": ["t"]}, "tools.0: Input should be a valid dictionary"),
        ({"tools": [{"name": "t", "cache_control": {"type": "x"}}]}, "tools.0.cache_control.type: Input should be"),
        ({"system": [mark(str(i)) for i in range(5)]},
         "A maximum of 4 blocks with cache_control may be provided. Found 5."),
        ({"system": [mark(str(i)) for i in range(4)], "cache_control": {"type": "ephemeral"}},
         "A maximum of 4 blocks with cache_control may be provided. Found 5."),
        ({"system": [mark("a", "5m"), mark("b", "1h")]}, "cache_control: a breakpoint with ttl='1h' must not come after"),
    ],
)
def test_invalid_cache_control_is_rejected_naming_the_field(extra: dict[str, Any], message: str) -> None:
    payload = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(InvalidRequestError) as caught:
        validate_request(payload, max_output_tokens=1000)
    assert str(caught.value).startswith(message)


def test_valid_cache_control_forms() -> None:
    req = request(
        tools=[{"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        system=[mark("a", "1h"), {"type": "text", "text": "b", "cache_control": None}, mark("c")],
        messages=[{"role": "user", "content": [mark("q", "5m")]}],
    )
    assert req.cache_breakpoints == ((0, "1h"), (1, "1h"), (3, "5m"), (4, "5m"))
    assert req.system == ("a", "b", "c")
    assert request().cache_breakpoints == () and request().tools == ()
