"""What the simulator saw: call counts, outcomes, concurrency, duplicates, rate limiting, prompt caching.

Served as JSON by ``GET /_simulator/stats`` so a test or benchmark can check
what actually reached "Claude" (e.g. how many calls a crash duplicated, or that
accepted calls per minute never exceeded the rate limit). Memory stays bounded
for millions of calls: request bodies are kept only as 8-byte BLAKE2b digests
mapped to a count, accepted calls as one counter per minute.

Outcomes (keys of ``by_status``) are the HTTP status as a string ("200",
"400", "429", ...) except two pseudo-statuses for injected transport faults,
which are *not* also counted under "200": ``"drop"`` (connection closed
mid-response, the client never gets a status) and ``"slow"`` (answered only
after ``slow_seconds``, typically after the client gave up). ``"none"`` would
count a call that ended without any response (e.g. cancelled at shutdown).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec

#: Pseudo-statuses of ``by_status`` for injected transport faults.
DROP: Final[str] = "drop"
SLOW: Final[str] = "slow"
#: Pseudo-status of a call that ended without any response (e.g. server shutdown).
NO_RESPONSE: Final[str] = "none"
#: Size of the body digests kept for duplicate counting (collisions ~1e-7 at 1M bodies).
DIGEST_BYTES: Final[int] = 8
_SECONDS_PER_MINUTE: Final[int] = 60


class MinuteCount(msgspec.Struct):
    """Accepted (200) answers completed in the minute beginning at ``minute``."""

    minute: str
    calls: int


class StatsSnapshot(msgspec.Struct):
    """The JSON document of ``GET /_simulator/stats``."""

    calls: int
    """Every ``POST /v1/messages``, whatever its outcome (401, 400, 413 included)."""
    by_status: dict[str, int]
    """Calls per outcome: HTTP status as a string, or ``"drop"`` / ``"slow"``."""
    accepted_per_minute: list[MinuteCount]
    """200 answers per wall-clock minute (RFC 3339 minute start), oldest first."""
    peak_concurrency: int
    """Most calls in flight at once since start (or reset)."""
    in_flight: int
    """Calls currently being handled."""
    distinct_bodies: int
    """Distinct raw request bodies among calls whose body was read (all but 401s)."""
    duplicate_calls: int
    """Calls beyond the first per distinct body (= body-read calls - distinct_bodies)."""
    max_calls_per_body: int
    """Largest number of calls with the same body."""
    rate_limited: dict[str, int]
    """429s from the per-model rate limits (not injected ones), per model."""
    cache_reads: int
    """Answered calls that read a prompt-cache entry (``cache_read_input_tokens > 0``)."""
    cache_writes: int
    """Answered calls that wrote prompt-cache entries (``cache_creation_input_tokens > 0``);
    a call may both read and write."""


@dataclass(slots=True)
class Call:
    """One in-flight ``POST /v1/messages``, shared by the tracking middleware and the handler."""

    status: int | None = None
    """Status of ``http.response.start``, once sent."""
    drop: bool = False
    """Set by the handler: close the connection mid-response."""
    slow: bool = False
    """Set by the handler: this answer is an injected slow one."""
    epoch: int = 0
    """Stats epoch the call began in; a call that straddles a reset is not counted."""


class SimulatorStats:
    """Counters behind ``/_simulator/stats``; every method is O(1) and never awaits."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self.in_flight = 0
        self._epoch = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter. ``in_flight`` is a gauge of live calls, so it is kept (and
        ``peak_concurrency`` restarts from it); the outcomes of those calls are not counted."""
        self._epoch += 1
        self.calls = 0
        self.by_status: dict[str, int] = {}
        self.accepted_by_minute: dict[int, int] = {}
        self.peak_concurrency = self.in_flight
        self.body_counts: dict[bytes, int] = {}
        self.body_calls = 0
        self.max_calls_per_body = 0
        self.rate_limited: dict[str, int] = {}
        self.cache_reads = 0
        self.cache_writes = 0

    def begin(self) -> Call:
        """A call arrived."""
        self.calls += 1
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
        return Call(epoch=self._epoch)

    def end(self, call: Call) -> None:
        """A call finished: count its outcome (see the module docstring)."""
        self.in_flight -= 1
        if call.epoch != self._epoch:
            return
        if call.drop and call.status is not None:
            outcome = DROP
        elif call.slow:
            outcome = SLOW
        elif call.status is None:
            outcome = NO_RESPONSE
        else:
            outcome = str(call.status)
        self.by_status[outcome] = self.by_status.get(outcome, 0) + 1
        if outcome == "200":
            minute = int(self._wall_clock()) // _SECONDS_PER_MINUTE * _SECONDS_PER_MINUTE
            self.accepted_by_minute[minute] = self.accepted_by_minute.get(minute, 0) + 1

    def record_body(self, raw: bytes) -> None:
        """Count one call with this raw body (by digest, so memory is ~100 bytes per distinct body)."""
        digest = hashlib.blake2b(raw, digest_size=DIGEST_BYTES).digest()
        count = self.body_counts.get(digest, 0) + 1
        self.body_counts[digest] = count
        self.body_calls += 1
        self.max_calls_per_body = max(self.max_calls_per_body, count)

    def record_rate_limited(self, model: str) -> None:
        """A per-model rate limit rejected a call."""
        self.rate_limited[model] = self.rate_limited.get(model, 0) + 1

    def record_cache(self, *, read: bool, wrote: bool) -> None:
        """An answered call read from and/or wrote to the prompt cache."""
        self.cache_reads += read
        self.cache_writes += wrote

    def snapshot(self) -> StatsSnapshot:
        """The current counters as the stats document."""
        minutes = [
            MinuteCount(datetime.fromtimestamp(minute, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), calls)
            for minute, calls in sorted(self.accepted_by_minute.items())
        ]
        distinct = len(self.body_counts)
        return StatsSnapshot(
            calls=self.calls,
            by_status=dict(self.by_status),
            accepted_per_minute=minutes,
            peak_concurrency=self.peak_concurrency,
            in_flight=self.in_flight,
            distinct_bodies=distinct,
            duplicate_calls=self.body_calls - distinct,
            max_calls_per_body=self.max_calls_per_body,
            rate_limited=dict(self.rate_limited),
            cache_reads=self.cache_reads,
            cache_writes=self.cache_writes,
        )
