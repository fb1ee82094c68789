"""Facts about Claude models that Batchmill's policies need (and the simulator mimics)."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: Minimum cacheable prefix (tokens) per model-name prefix, from Anthropic's prompt-caching
#: docs. A model takes the entry of the longest prefix its name starts with (followed by
#: the end of the name or "-"), so dated ids (``claude-opus-4-5-20251101``) and later point
#: releases of a family (``claude-sonnet-4-6`` under ``claude-sonnet-4``) are covered.
MIN_CACHEABLE_TOKENS_BY_MODEL_PREFIX: Final[Mapping[str, int]] = MappingProxyType(
    {
        "claude-opus-4-6": 4096,  # Claude Opus 4.6
        "claude-opus-4-5": 4096,  # Claude Opus 4.5
        "claude-haiku-4-5": 4096,  # Claude Haiku 4.5
        "claude-opus-4-1": 1024,  # Claude Opus 4.1
        "claude-opus-4": 1024,  # Claude Opus 4
        "claude-sonnet-4": 1024,  # Claude Sonnet 4, 4.5, 4.6
        "claude-3-7-sonnet": 1024,  # Claude Sonnet 3.7
        "claude-3-5-haiku": 2048,  # Claude Haiku 3.5
        "claude-3-haiku": 2048,  # Claude Haiku 3
    }
)
#: Minimum cacheable prefix of any other model (the simulator's ``claude-sim-*`` included).
DEFAULT_MIN_CACHEABLE_TOKENS: Final[int] = 1024


_PREFIXES_LONGEST_FIRST: Final = sorted(MIN_CACHEABLE_TOKENS_BY_MODEL_PREFIX, key=len, reverse=True)


def min_cacheable_tokens(model: str) -> int:
    """The model's minimum cacheable prefix length in tokens (see the table above)."""
    for prefix in _PREFIXES_LONGEST_FIRST:
        if model.startswith(prefix) and (len(model) == len(prefix) or model[len(prefix)] == "-"):
            return MIN_CACHEABLE_TOKENS_BY_MODEL_PREFIX[prefix]
    return DEFAULT_MIN_CACHEABLE_TOKENS
