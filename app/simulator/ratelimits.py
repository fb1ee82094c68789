"""Per-model rate limits, as token buckets like Anthropic's.

Each model name gets its own buckets for requests, input tokens and output
tokens per minute (only for the limits that are configured). A bucket holds at
most one minute of capacity and refills continuously at ``limit / 60`` per
second. A request takes 1 request, its input tokens and ``max_tokens`` output
tokens up front, all or nothing (its input being the uncached tokens: cache reads
are free, see ``app.simulator.cache``); once answered, the unused output reservation
is returned. ``RateLimiter`` is synchronous on purpose: the check and the
consumption happen without an ``await`` in between, so concurrent requests on
the event loop can never both spend the same capacity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from app.simulator.errors import NO_HEADERS

#: Bucket kinds in header order: (header infix, unit used in the 429 message).
REQUESTS: Final[str] = "requests"
INPUT_TOKENS: Final[str] = "input-tokens"
OUTPUT_TOKENS: Final[str] = "output-tokens"
_UNITS: Final[Mapping[str, str]] = {REQUESTS: "requests", INPUT_TOKENS: "input tokens", OUTPUT_TOKENS: "output tokens"}
HEADER_PREFIX: Final[str] = "anthropic-ratelimit-"
SECONDS_PER_MINUTE: Final[float] = 60.0
#: Float slack so that a shortfall of exactly N seconds is not rounded up to N + 1.
_EPSILON: Final[float] = 1e-9


def rfc3339(timestamp: float) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SSZ`` for a Unix time, rounded up to the whole second."""
    return datetime.fromtimestamp(math.ceil(timestamp - _EPSILON), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class TokenBucket:
    """``limit`` per minute: holds at most ``limit``, refills at ``limit / 60`` per second."""

    limit: int
    level: float
    updated: float
    """Monotonic time of the last refill."""

    @property
    def rate(self) -> float:
        """Refill speed in units per second."""
        return self.limit / SECONDS_PER_MINUTE

    def refill(self, now: float) -> None:
        """Add what trickled in since the last refill, capped at one minute's worth."""
        if now > self.updated:
            self.level = min(float(self.limit), self.level + (now - self.updated) * self.rate)
            self.updated = now

    def seconds_until(self, amount: float) -> float:
        """Seconds until the bucket holds ``amount`` (0 if it already does)."""
        return max(0.0, (amount - self.level) / self.rate)


@dataclass(frozen=True, slots=True)
class Admission:
    """Outcome of ``RateLimiter.acquire``: granted, or the 429 to answer."""

    granted: bool
    headers: Mapping[str, str]
    """The ``anthropic-ratelimit-*`` headers after the decision."""
    retry_after: int = 0
    """Whole seconds until enough capacity refills (>= 1 when not granted)."""
    message: str = ""


@dataclass(slots=True)
class RateLimiter:
    """Token buckets per model for the configured per-minute limits (0 = unlimited)."""

    rpm: int = 0
    itpm: int = 0
    otpm: int = 0
    clock: Callable[[], float] = time.monotonic
    """Drives refills; injectable so tests can move time."""
    wall_clock: Callable[[], float] = time.time
    """Unix time for the ``*-reset`` headers."""
    _models: dict[str, dict[str, TokenBucket]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether any limit is configured."""
        return bool(self.rpm or self.itpm or self.otpm)

    def _buckets(self, model: str) -> dict[str, TokenBucket]:
        """The model's buckets (created full), refilled up to now."""
        now = self.clock()
        buckets = self._models.get(model)
        if buckets is None:
            limits = ((REQUESTS, self.rpm), (INPUT_TOKENS, self.itpm), (OUTPUT_TOKENS, self.otpm))
            buckets = {kind: TokenBucket(limit, float(limit), now) for kind, limit in limits if limit > 0}
            self._models[model] = buckets
        for bucket in buckets.values():
            bucket.refill(now)
        return buckets

    def acquire(self, model: str, input_tokens: int, max_tokens: int) -> Admission:
        """Take 1 request, ``input_tokens`` and ``max_tokens`` from ``model``'s buckets, or nothing.

        When any bucket is short, nothing is consumed and the admission carries
        ``retry-after`` = the longest wait among the short buckets (ceil, >= 1). A
        request larger than a whole minute's limit can never pass; it gets a 429
        whose ``retry-after`` is the time until the bucket is full.
        """
        if not self.enabled:
            return Admission(True, NO_HEADERS)
        buckets = self._buckets(model)
        needs = {REQUESTS: 1, INPUT_TOKENS: input_tokens, OUTPUT_TOKENS: max_tokens}
        wait, message = 0.0, ""
        for kind, bucket in buckets.items():
            need = needs[kind]
            if bucket.level + _EPSILON >= need:
                continue
            seconds = bucket.seconds_until(min(need, bucket.limit))
            if not message:
                unit = _UNITS[kind]
                message = (
                    f"This request would exceed the rate limit for your organization of {bucket.limit} {unit} "
                    f"per minute for model {model}"
                    + (f" (it needs {need} {unit} on its own)." if need > bucket.limit else ".")
                )
            wait = max(wait, seconds)
        if message:
            retry_after = max(1, math.ceil(wait - _EPSILON))
            return Admission(False, self._headers(buckets), retry_after, message)
        for kind, bucket in buckets.items():
            bucket.level -= needs[kind]
        return Admission(True, self._headers(buckets))

    def refund(self, model: str, output_tokens: int) -> None:
        """Return an unused output-token reservation (``max_tokens`` - actual output)."""
        bucket = self._buckets(model).get(OUTPUT_TOKENS) if self.enabled else None
        if bucket is not None and output_tokens > 0:
            bucket.level = min(float(bucket.limit), bucket.level + output_tokens)

    def headers(self, model: str) -> Mapping[str, str]:
        """Current ``anthropic-ratelimit-*`` headers for ``model`` (empty when unlimited)."""
        return self._headers(self._buckets(model)) if self.enabled else NO_HEADERS

    def _headers(self, buckets: Mapping[str, TokenBucket]) -> dict[str, str]:
        """``-limit``, ``-remaining`` (whole units left) and ``-reset`` (when full) per bucket."""
        wall = self.wall_clock()
        headers: dict[str, str] = {}
        for kind, bucket in buckets.items():
            prefix = HEADER_PREFIX + kind
            headers[prefix + "-limit"] = str(bucket.limit)
            headers[prefix + "-remaining"] = str(max(0, math.floor(bucket.level + _EPSILON)))
            headers[prefix + "-reset"] = rfc3339(wall + bucket.seconds_until(bucket.limit))
        return headers
