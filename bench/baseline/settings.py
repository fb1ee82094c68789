"""Where the baseline keeps its state, read from the environment like the seed did."""
from __future__ import annotations

import os
from typing import Final

#: Broker, result backend and result store: one dedicated Redis DB, flushed per run.
REDIS_URL: Final[str] = os.environ.get("BASELINE_REDIS_URL", "redis://127.0.0.1:6379/15")
#: Celery's per-worker, per-task rate limit (e.g. "800/m"); each worker enforces it alone.
RATE_LIMIT: Final[str] = os.environ.get("BASELINE_RATE_LIMIT", "800/m")
#: Retries after the first attempt for retryable API errors.
MAX_RETRIES: Final[int] = int(os.environ.get("BASELINE_MAX_RETRIES", "8"))
#: Lifetime of every key the baseline writes (results, batch id lists).
RESULT_TTL_SECONDS: Final[int] = 24 * 3600


def result_key(batch_id: str, custom_id: str) -> str:
    """Redis key of one request's stored result line."""
    return f"result:{batch_id}:{custom_id}"


def ids_key(batch_id: str) -> str:
    """Redis key of the list of a batch's custom_ids, in submission order."""
    return f"batch:{batch_id}:ids"
