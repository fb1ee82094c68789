"""Prometheus metrics: every metric Batchmill exports, defined here and nowhere else.

The API serves ``/metrics`` on its own port, each worker on its health port. Labels never
carry ids (batch, request, tenant): their values are few and known. Queue depth is read from
``queue_depth_v1`` — the view KEDA's query reads — when the API is scraped.
"""
from __future__ import annotations

from decimal import Decimal

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.llm.outcome import CallOutcome
from app.sql import queries

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

# API
HTTP_REQUESTS = Counter("batchmill_http_requests", "HTTP requests served by the API.",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("batchmill_http_request_duration_seconds",
                          "Time to answer an API request.", ["method", "route"],
                          buckets=LATENCY_BUCKETS)
BATCHES_CREATED = Counter("batchmill_batches_created", "Batches accepted.", ["mode"])
REQUESTS_SUBMITTED = Counter("batchmill_requests_submitted", "Requests in accepted batches.",
                             ["mode"])
QUEUE_JOBS = Gauge("batchmill_queue_jobs", "Queue rows by queue and state (runnable, "
                   "scheduled for later, running), as of the scrape.", ["queue", "state"])

# Workers
REQUESTS_FINISHED = Counter("batchmill_requests_finished", "Requests that reached a terminal "
                            "status.", ["status"])
PROVIDER_CALLS = Counter("batchmill_provider_calls", "Messages calls to the provider, by "
                         "outcome (ok, or the error type).", ["model", "outcome"])
TOKENS = Counter("batchmill_tokens", "Tokens of realtime provider calls.", ["model", "kind"])
COST = Counter("batchmill_cost_usd", "USD of realtime provider calls.", ["model"])
CALL_DURATION = Histogram("batchmill_provider_call_duration_seconds",
                          "Latency of provider calls.", ["model"], buckets=LATENCY_BUCKETS)
QUEUE_WAIT = Histogram("batchmill_queue_wait_seconds", "From submission to a request's first "
                       "attempt.", buckets=WAIT_BUCKETS)
LIMITER_WAITS = Counter("batchmill_rate_limiter_waits", "Calls held back by the fleet-wide "
                        "rate limiter.", ["model"])
RATE_LIMITED = Counter("batchmill_rate_limited", "429 answers from the provider.", ["model"])
WEBHOOK_DELIVERIES = Counter("batchmill_webhook_deliveries", "Webhook delivery attempts by "
                             "outcome (delivered, retry, failed).", ["outcome"])


def observe_call(outcome: CallOutcome, cost: Decimal | None) -> None:
    model = outcome.model
    PROVIDER_CALLS.labels(model, outcome.error.error_type if outcome.error else "ok").inc()
    CALL_DURATION.labels(model).observe(outcome.latency_seconds)
    if outcome.http_status == 429:
        RATE_LIMITED.labels(model).inc()
    usage = outcome.usage
    for kind, tokens in (("input", usage.input_tokens), ("output", usage.output_tokens),
                         ("cache_write", usage.cache_creation_tokens),
                         ("cache_read", usage.cache_read_tokens)):
        if tokens:
            TOKENS.labels(model, kind).inc(tokens)
    if cost:
        COST.labels(model).inc(float(cost))


async def refresh_queue_depth(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(queries["queue_depth"])).all()
    QUEUE_JOBS.clear()
    for queue in ("requests", "maintenance", "webhooks"):  # zeros are data too
        for state in ("runnable", "scheduled", "running"):
            QUEUE_JOBS.labels(queue, state).set(0)
    for row in rows:
        QUEUE_JOBS.labels(row.queue_name, row.state).set(row.jobs)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
