"""What one provider call produced, in the terms the worker records."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def cache_creation_tokens(self) -> int:
        return self.cache_creation_5m_tokens + self.cache_creation_1h_tokens

    @classmethod
    def from_message(cls, usage: dict[str, Any] | None) -> Usage:
        """Read Anthropic's usage object. Without the 5 m / 1 h breakdown, every cache write
        is counted at the 5-minute rate (the default TTL)."""
        if not usage:
            return cls()
        created = int(usage.get("cache_creation_input_tokens") or 0)
        breakdown = usage.get("cache_creation") or {}
        one_hour = int(breakdown.get("ephemeral_1h_input_tokens") or 0)
        five_min = int(breakdown.get("ephemeral_5m_input_tokens") or 0) if breakdown else created
        return cls(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cache_creation_5m_tokens=five_min,
            cache_creation_1h_tokens=one_hour,
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        )


@dataclass(frozen=True)
class CallError:
    """A failed call. ``body`` is Anthropic's error response shape, stored on an errored
    request as is; ``retryable`` says whether another attempt can succeed."""

    error_type: str
    message: str
    retryable: bool
    retry_after_seconds: float | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallOutcome:
    model: str
    started_at: dt.datetime
    latency_seconds: float
    http_status: int | None
    provider_request_id: str | None
    message: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    error: CallError | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    """The provider's ``anthropic-ratelimit-*`` headers, for the rate limiter."""
