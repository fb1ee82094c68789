"""Deliver webhook events: one attempt per job run; a failed attempt defers the next one in the
transaction that records it (exponential backoff, until ``give_up_after_seconds``).

Delivery is at least once: a worker that dies between the POST and recording it repeats the
POST on retry, with the same event id and body, so receivers can dedupe.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

import httpx
import msgspec
import procrastinate
from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics, webhooks
from app.errors import InvalidRequest
from app.schemas import message_batch
from app.settings import WebhookSettings
from app.sql import queries

log = logging.getLogger("batchmill.webhooks")

QUEUE = "webhooks"
TASK = "batchmill.deliver_webhook"
USER_AGENT = "Batchmill-Webhooks/1"


def register(app: procrastinate.App, engine: AsyncEngine, config: WebhookSettings,
             public_url: str | None) -> None:
    @app.task(name=TASK, queue=QUEUE, retry=procrastinate.RetryStrategy(
        max_attempts=10, exponential_wait=2))
    async def deliver_webhook(event_id: str) -> None:
        async with httpx.AsyncClient(timeout=config.timeout_seconds,
                                     follow_redirects=False) as http:
            await deliver(engine, http, config, public_url, event_id)


async def deliver(engine: AsyncEngine, http: httpx.AsyncClient, config: WebhookSettings,
                  public_url: str | None, event_id: str) -> None:
    async with engine.connect() as conn:
        event = (await conn.execute(queries["webhook_event_for_delivery"],
                                    {"event_id": event_id})).mappings().first()
    if event is None or event["event_status"] != "pending":
        return
    body = (event["event_payload"] or
            msgspec.json.encode(message_batch(event, public_url or "")).decode()).encode()
    attempt = event["event_attempts"] + 1
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        if not config.allow_private:
            await webhooks.refuse_private(event["event_url"])  # again: DNS may have changed
        response = await http.post(event["event_url"], content=body, headers={
            "content-type": "application/json", "user-agent": USER_AGENT,
            webhooks.EVENT_ID_HEADER: event_id,
            webhooks.SIGNATURE_HEADER: webhooks.sign(event["webhook_secret"], int(time.time()),
                                                     body)})
        status = response.status_code
    except InvalidRequest as exc:
        error = exc.message
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = time.perf_counter() - clock
    delivered = status is not None and 200 <= status < 300
    run_at = None
    if not delivered:
        delay = webhooks.retry_delay(attempt, config.retry_base_seconds)
        age = (started - event["event_created_at"]).total_seconds()
        if age + delay <= config.give_up_after_seconds:
            run_at = started + dt.timedelta(seconds=delay)
    async with engine.begin() as conn:
        await conn.execute(queries["webhook_attempt_record"], {
            "event_id": event_id, "attempt": attempt, "started_at": started,
            "latency_seconds": round(latency, 6), "response_status": status, "error": error,
            "payload": body.decode(), "delivered": delivered, "run_at": run_at})
    metrics.WEBHOOK_DELIVERIES.labels(
        "delivered" if delivered else "failed" if run_at is None else "retry").inc()
    if delivered:
        log.info("webhook %s delivered (attempt %d, HTTP %d)", event_id, attempt, status)
    elif run_at is None:
        log.warning("webhook %s failed for good after %d attempts", event_id, attempt)
    else:
        log.info("webhook %s attempt %d failed (%s); next at %s", event_id, attempt,
                 status or error, run_at.isoformat())
