"""Prompt caching, accounted like the Messages API's.

A request marks *breakpoints* with ``cache_control`` (``messages.validate_request``
collects them). The prefix of a breakpoint is every prompt block up to and
including the marked one, in the order tools → system → messages
(``messages.prompt_blocks``), and its size is the sum of those blocks' token
estimates. ``PromptCache.plan`` decides, without changing anything, what a
request reads and writes, by these rules:

* **Minimum.** A prefix shorter than the model's minimum cacheable length
  (``min_cacheable_tokens``) is never read nor written: no error, its tokens
  stay plain ``input_tokens``.
* **Read.** Candidates are the block boundaries at each eligible breakpoint and
  up to ``LOOKBACK_BLOCKS`` blocks before it (the API's automatic look-back, so a
  growing conversation hits the entry written by its previous turn). The
  longest candidate prefix with a live entry for this model is read:
  ``cache_read_input_tokens`` = its tokens.
* **Write.** Every eligible breakpoint after the read prefix (all of them on a
  miss) gets an entry. ``cache_creation_input_tokens`` = last written prefix −
  read tokens, split by TTL segment by segment: the tokens between one prefix
  end and the next written breakpoint count under that breakpoint's TTL
  (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``).
* **Rest.** ``input_tokens`` = all prompt tokens − read − written, i.e. the
  tokens after the last breakpoint (or all of them when nothing was cached),
  so the three always sum to ``messages.count_input_tokens``.

``PromptCache.commit`` applies a plan: it stores the written entries and
refreshes the read one (its TTL restarts, as every read does on the API). The
app commits when the response is about to be sent, so, as documented for the
real API, an entry becomes readable only once the first response begins:
concurrent requests on a new prefix all write it.

Entries are keyed by ``(model, sha256 of the canonical JSON of the prefix
blocks)`` (``cache_control`` stripped), so caches are per model, and map to an
expiry on an injectable monotonic clock. Memory is bounded: at most
``max_entries`` entries, the least recently used evicted first.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from app.llm.models import min_cacheable_tokens
from app.simulator.config import DEFAULT_PROMPT_CACHE_MAX_ENTRIES
from app.simulator.messages import CacheTtl, CacheUsage, MessagesRequest, prompt_blocks

#: Lifetime of an entry after its last write or read, per ``cache_control.ttl``.
TTL_SECONDS: Final[Mapping[CacheTtl, float]] = MappingProxyType({"5m": 5 * 60.0, "1h": 60 * 60.0})

#: Block boundaries before each breakpoint that are also checked for a hit.
LOOKBACK_BLOCKS: Final[int] = 20


@dataclass(frozen=True, slots=True)
class Prefix:
    """A prompt prefix ending at a block boundary: its cache key, size and TTL."""

    key: bytes
    """SHA-256 of the canonical JSON array of the prefix's blocks."""
    tokens: int
    ttl: CacheTtl
    """TTL to write (or refresh) the entry with: that of the breakpoint concerned."""


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What one request reads from and writes to the cache; applied by ``PromptCache.commit``."""

    model: str
    read: Prefix | None
    writes: tuple[Prefix, ...]
    usage: CacheUsage


@dataclass(slots=True)
class _Entry:
    expires: float
    ttl: float


class PromptCache:
    """Live prompt prefixes per model, with TTL expiry and an LRU bound."""

    def __init__(
        self,
        max_entries: int = DEFAULT_PROMPT_CACHE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    def contains(self, model: str, key: bytes) -> bool:
        """Whether ``model`` has a live entry for ``key`` (an expired one is dropped)."""
        entry = self._entries.get((model, key))
        if entry is None:
            return False
        if entry.expires <= self._clock():
            del self._entries[(model, key)]
            return False
        return True

    def store(self, model: str, key: bytes, ttl: CacheTtl) -> None:
        """Write or refresh an entry: it lives ``ttl`` from now (a live 1-hour entry refreshed
        with ``"5m"`` keeps its hour) and becomes the most recently used."""
        now, seconds = self._clock(), TTL_SECONDS[ttl]
        entry = self._entries.get((model, key))
        if entry is not None and entry.expires > now:
            seconds = max(seconds, entry.ttl)
        self._entries[(model, key)] = _Entry(now + seconds, seconds)
        self._entries.move_to_end((model, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def plan(self, request: MessagesRequest) -> CachePlan | None:
        """What ``request`` reads and writes (module docstring); ``None`` when nothing.

        Changes nothing but dropping expired entries it looks at.
        """
        breakpoints = request.cache_breakpoints
        if not breakpoints:
            return None
        minimum = min_cacheable_tokens(request.model)
        # Candidate boundary -> TTL to refresh it with: its own if it is a breakpoint,
        # else that of the first breakpoint looking back to it.
        candidates: dict[int, CacheTtl] = {}
        for index, ttl in breakpoints:
            for boundary in range(max(0, index - LOOKBACK_BLOCKS), index):
                candidates.setdefault(boundary, ttl)
            candidates[index] = ttl
        last = breakpoints[-1][0]
        prefixes: dict[int, Prefix] = {}  # long-enough candidates only
        hasher = hashlib.sha256(b"[")
        tokens = 0
        for i, (identity, block_tokens) in enumerate(prompt_blocks(request)):
            if i:
                hasher.update(b",")
            hasher.update(identity)
            tokens += block_tokens
            if i in candidates and tokens >= minimum:
                closed = hasher.copy()
                closed.update(b"]")
                prefixes[i] = Prefix(closed.digest(), tokens, candidates[i])
            if i == last:
                break
        read_at = next(
            (i for i in sorted(prefixes, reverse=True) if self.contains(request.model, prefixes[i].key)), -1
        )
        read = prefixes.get(read_at)
        writes = tuple(prefixes[i] for i, _ttl in breakpoints if i > read_at and i in prefixes)
        if read is None and not writes:
            return None
        start = 0 if read is None else read.tokens
        written = {"5m": 0, "1h": 0}
        for prefix in writes:
            written[prefix.ttl] += prefix.tokens - start
            start = prefix.tokens
        usage = CacheUsage(0 if read is None else read.tokens, written["5m"], written["1h"])
        return CachePlan(request.model, read, writes, usage)

    def commit(self, plan: CachePlan) -> None:
        """Apply ``plan``: refresh the entry read, store the entries written."""
        if plan.read is not None:
            self.store(plan.model, plan.read.key, plan.read.ttl)
        for prefix in plan.writes:
            self.store(plan.model, prefix.key, prefix.ttl)
