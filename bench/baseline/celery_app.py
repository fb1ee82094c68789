"""The seed's Celery app: one task per request, calling Claude with the official SDK.

Kept as the seed had it, weaknesses included: ``rate_limit`` is enforced by each
worker on its own (N workers may send N times the limit), retries back off
exponentially with jitter and never read ``retry-after``, and tasks are acked
on receipt (``acks_late`` False), so a killed worker loses what it held.
"""
from __future__ import annotations

import os
from typing import Any

import anthropic
from celery import Celery, Task

from bench.baseline import store
from bench.baseline.settings import MAX_RETRIES, RATE_LIMIT, REDIS_URL, RESULT_TTL_SECONDS

#: API errors the seed retried: 429, 5xx (529 overloaded included), connection errors and timeouts.
RETRYABLE: tuple[type[Exception], ...] = (
    anthropic.RateLimitError, anthropic.InternalServerError, anthropic.APIConnectionError)

app = Celery("baseline", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    result_expires=RESULT_TTL_SECONDS, broker_connection_retry_on_startup=True,
    # Seed defaults, spelled out: prefetch multiplier 4, ack on receipt.
    worker_prefetch_multiplier=4, task_acks_late=False,
)

_client: tuple[int, anthropic.Anthropic] | None = None


def claude() -> anthropic.Anthropic:
    """One sync SDK client per worker process, without the SDK's own retries (Celery retries)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), anthropic.Anthropic(
            base_url=os.environ["ANTHROPIC_BASE_URL"],
            api_key=os.environ.get("ANTHROPIC_API_KEY", "baseline"), max_retries=0))
    return _client[1]


class StoreFailure(Task):
    """Writes an ``errored`` result line when a task fails for good, so status can end."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any], einfo: object) -> None:
        batch_id, custom_id = args[0], args[1]
        store.save(batch_id, custom_id, store.errored(custom_id, exc))


@app.task(base=StoreFailure, rate_limit=RATE_LIMIT, autoretry_for=RETRYABLE,
          max_retries=MAX_RETRIES, retry_backoff=True, retry_jitter=True)
def call_claude(batch_id: str, custom_id: str, params: dict[str, Any]) -> None:
    """Send one request's ``params`` to Messages and store the answer; returns nothing."""
    message = claude().messages.create(**params)
    store.save(batch_id, custom_id, store.succeeded(custom_id, message.to_dict(mode="json")))
