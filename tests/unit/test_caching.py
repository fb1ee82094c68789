"""Which requests get a cache breakpoint on their system prompt, and where."""
from __future__ import annotations

from typing import Any

import msgspec

from app.llm.caching import mark_shared_system_prompts

LONG = "x" * 4200  # 1,050 tokens: above Sonnet's 1,024 minimum, below Haiku 4.5's 4,096


def raw(system: Any, model: str = "claude-sonnet-4-5", **extra: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode({"model": model, "max_tokens": 5, "system": system,
                                            "messages": [{"role": "user", "content": "q"}],
                                            **extra}))


def test_shared_long_system_prompt_is_marked() -> None:
    marked = mark_shared_system_prompts([raw(LONG), raw(LONG), raw("short"), None])
    first = msgspec.json.decode(marked[0])  # type: ignore[arg-type]
    assert first["system"] == [{"type": "text", "text": LONG,
                                "cache_control": {"type": "ephemeral"}}]
    assert first["messages"] == [{"role": "user", "content": "q"}]
    assert marked[1] is not None and marked[2] is None and marked[3] is None


def test_left_alone_when_not_shared_too_short_or_already_cached() -> None:
    assert mark_shared_system_prompts([raw(LONG), raw(LONG + "!")]) == [None, None]
    assert mark_shared_system_prompts([raw(LONG, "claude-haiku-4-5")] * 2) == [None, None]
    block = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert mark_shared_system_prompts([raw(block)] * 2) == [None, None]


def test_block_system_prompt_marks_its_last_block() -> None:
    blocks = [{"type": "text", "text": LONG[:2000]}, {"type": "text", "text": LONG[2000:]}]
    marked = mark_shared_system_prompts([raw(blocks)] * 2)
    system = msgspec.json.decode(marked[0])["system"]  # type: ignore[arg-type]
    assert "cache_control" not in system[0] and system[1]["cache_control"] == {"type": "ephemeral"}
