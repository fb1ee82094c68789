"""Exponential backoff with full jitter, never shorter than the provider's ``retry-after``."""
from __future__ import annotations

import random

BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 300.0


def retry_delay(attempt: int, retry_after: float | None = None, *,
                base: float = BASE_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS,
                rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    return max(delay, retry_after) if retry_after is not None else delay
