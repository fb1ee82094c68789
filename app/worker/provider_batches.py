"""Mode provider_batch: requests reach Claude through Anthropic's Message Batches API, at its
batch discount, driven by one short periodic job (one run at a time across the fleet: it holds
a procrastinate lock). Each run, in order:

1. gather: queued requests of provider_batch batches not yet in a provider batch are grouped
   into provider batches (at most ``max_requests`` and ``max_bytes`` each) — recorded before
   anything is sent;
2. submit: each pending provider batch is sent, and its provider id recorded with its requests
   turned running. An attempt that died after the provider accepted it leaves a batch there
   that the next attempt adopts (same size, created since the first attempt, unknown here)
   instead of sending a duplicate;
3. cancel: provider batches of canceled or expired batches are canceled at the provider;
4. poll: each open provider batch is retrieved; an ended one is marked so;
5. record: an ended provider batch's results file is streamed and recorded in chunks —
   outcome, usage and cost at the batch discount — exactly like realtime results.

Every step reads its work from Postgres and is idempotent (recording is guarded per request
and per call), so a run that dies anywhere is run again and records nothing twice.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import anthropic
import msgspec
import procrastinate
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics
from app.llm import provider_batches as provider
from app.llm.errors import classify
from app.llm.outcome import Usage
from app.settings import ProviderBatchSettings
from app.sql import queries
from app.worker import maintenance

log = logging.getLogger("batchmill.provider_batches")

TASK = "batchmill.provider_batches"
LOCK = "batchmill-provider-batches"
RESULT_CHUNK_LINES = 1_000
ENVELOPE_BYTES = 64
"""Bytes a request adds to a provider batch beyond its params (custom_id and JSON syntax)."""
ADOPTION_SKEW = dt.timedelta(minutes=2)
"""Clock difference tolerated between Postgres and the provider when adopting."""
TRANSIENT = (anthropic.APIStatusError, anthropic.APIConnectionError)


def register(app: procrastinate.App, engine: AsyncEngine, client: anthropic.AsyncAnthropic,
             config: ProviderBatchSettings) -> None:
    @app.periodic(cron=maintenance.cron_every(config.poll_every_seconds),
                  periodic_id="provider_batches")
    # A lock, not a queueing lock: runs wait their turn, and the run of a worker that died
    # (still "doing", holding the lock) can always be retried by the rescue job.
    @app.task(name=TASK, queue=maintenance.QUEUE, lock=LOCK)
    async def provider_batches(timestamp: int) -> None:
        await run(engine, client, config)


async def run(engine: AsyncEngine, client: anthropic.AsyncAnthropic,
              config: ProviderBatchSettings) -> None:
    await gather(engine, config)
    await submit_pending(engine, client)
    await send_cancels(engine, client)
    await poll(engine, client)
    await record_ended(engine, client)


def pack(rows: Iterable[Row[Any]], config: ProviderBatchSettings) -> Iterator[list[int]]:
    """Request ids in order, cut into groups within the provider's count and size limits."""
    group: list[int] = []
    size = 0
    for row in rows:
        need = row.params_bytes + ENVELOPE_BYTES
        if group and (len(group) >= config.max_requests or size + need > config.max_bytes):
            yield group
            group, size = [], 0
        group.append(row.id)
        size += need
    if group:
        yield group


async def gather(engine: AsyncEngine, config: ProviderBatchSettings) -> None:
    async with engine.begin() as conn:
        rows = (await conn.execute(queries["provider_requests_unassigned"])).all()
        for batch_id, requests in itertools.groupby(rows, key=lambda row: row.batch_id):
            for ids in pack(requests, config):
                await conn.execute(queries["provider_batch_form"],
                                   {"batch_id": batch_id, "request_ids": ids})
                log.info("batch %s: %d requests gathered into a provider batch",
                         batch_id, len(ids))


async def submit_pending(engine: AsyncEngine, client: anthropic.AsyncAnthropic) -> None:
    async with engine.connect() as conn:
        pending = (await conn.execute(queries["provider_batches_pending"])).all()
    for row in pending:
        async with engine.begin() as conn:
            requests = [(r.id, r.params) for r in
                        await conn.execute(queries["provider_batch_requests"], {"id": row.id})]
            if not requests:  # all canceled before they were sent
                await conn.execute(queries["provider_batch_done"], {"id": row.id})
                continue
            started = (await conn.execute(queries["provider_batch_submit_start"], {
                "id": row.id, "request_count": len(requests)})).scalar_one()
        try:
            created = (await _orphan(engine, client, started, len(requests))
                       if row.submit_started_at is not None else None)
            if created is not None:
                log.warning("adopting provider batch %s left by an interrupted submission",
                            created.id)
            else:
                created = await provider.submit(client, requests)
        except TRANSIENT as exc:
            error = classify(exc)
            if error.retryable:
                log.warning("provider batch submission failed, will retry: %s", error.message)
                continue
            log.error("provider refused a batch of %d requests: %s", len(requests),
                      error.message)
            await _record(engine, row.id, row.batch_id, None, [
                _Line(rid, "errored", error=msgspec.json.encode(error.body).decode(),
                      error_type=error.error_type) for rid, _ in requests], record_calls=False)
            await _done(engine, row.id)
            continue
        async with engine.begin() as conn:
            await conn.execute(queries["provider_batch_submitted"],
                               {"id": row.id, "provider_batch_id": created.id})
        log.info("batch %s: provider batch %s submitted (%d requests)", row.batch_id,
                 created.id, len(requests))


async def _orphan(engine: AsyncEngine, client: anthropic.AsyncAnthropic, since: dt.datetime,
                  count: int) -> provider.ProviderBatch | None:
    """A provider batch an interrupted attempt may have created: same size, created since that
    attempt began, not recorded for any other provider batch. Oldest first."""
    found = None
    async for batch in provider.created_since(client, since - ADOPTION_SKEW):
        if batch.request_count != count:
            continue
        async with engine.connect() as conn:
            known = (await conn.execute(queries["provider_batch_known"],
                                        {"provider_batch_id": batch.id})).scalar_one()
        if not known:
            found = batch
    return found


async def send_cancels(engine: AsyncEngine, client: anthropic.AsyncAnthropic) -> None:
    async with engine.connect() as conn:
        due = (await conn.execute(queries["provider_batches_to_cancel"])).all()
    for row in due:
        try:
            await provider.cancel(client, row.provider_batch_id)
        except TRANSIENT as exc:
            error = classify(exc)
            if error.retryable:
                log.warning("cancel of provider batch %s failed, will retry: %s",
                            row.provider_batch_id, error.message)
                continue
            # Refused (it has ended already, or is unknown): polling takes it from here.
        async with engine.begin() as conn:
            await conn.execute(queries["provider_batch_cancel_sent"], {"id": row.id})
        log.info("provider batch %s: cancel sent", row.provider_batch_id)


async def poll(engine: AsyncEngine, client: anthropic.AsyncAnthropic) -> None:
    async with engine.connect() as conn:
        submitted = (await conn.execute(queries["provider_batches_submitted"])).all()
    for row in submitted:
        try:
            batch = await provider.retrieve(client, row.provider_batch_id)
            ended_at = batch.ended_at if batch.processing_status == "ended" else None
        except anthropic.NotFoundError:
            log.error("provider batch %s is gone at the provider", row.provider_batch_id)
            ended_at = dt.datetime.now(dt.UTC)
        except TRANSIENT as exc:
            log.warning("polling provider batch %s failed: %s", row.provider_batch_id, exc)
            continue
        if ended_at is not None:
            async with engine.begin() as conn:
                await conn.execute(queries["provider_batch_ended"],
                                   {"id": row.id, "ended_at": ended_at})


class _Message(msgspec.Struct):
    model: str | None = None
    usage: dict[str, Any] | None = None


class _Result(msgspec.Struct):
    type: str
    message: msgspec.Raw = msgspec.Raw(b"")  # empty: absent
    error: msgspec.Raw = msgspec.Raw(b"")


class _ResultLine(msgspec.Struct):
    custom_id: str
    result: _Result


class _ErrorBody(msgspec.Struct):
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Line:
    request_id: int
    status: str
    result: str | None = None
    error: str | None = None
    model: str | None = None
    error_type: str | None = None
    usage: Usage = Usage()


_decode_line = msgspec.json.Decoder(_ResultLine).decode
_decode_message = msgspec.json.Decoder(_Message).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode
STATUSES = ("succeeded", "errored", "canceled", "expired")


def parse(raw: bytes) -> _Line | None:
    """A results line as a request's outcome; None for a line that is not one of ours. The
    message or error is kept as the provider's own JSON text."""
    line = _decode_line(raw)
    rid = provider.request_id(line.custom_id)
    result = line.result
    if rid is None or result.type not in STATUSES:
        return None
    if result.type == "succeeded" and result.message:
        message = _decode_message(result.message)
        return _Line(rid, "succeeded", result=bytes(result.message).decode(),
                     model=message.model, usage=Usage.from_message(message.usage))
    if result.type == "errored" and result.error:
        inner = _decode_error(result.error).error or {}
        return _Line(rid, "errored", error=bytes(result.error).decode(),
                     error_type=str(inner.get("type") or "api_error"))
    return _Line(rid, result.type)


async def record_ended(engine: AsyncEngine, client: anthropic.AsyncAnthropic) -> None:
    async with engine.connect() as conn:
        ended = (await conn.execute(queries["provider_batches_ended"])).all()
    for row in ended:
        chunk: list[_Line] = []
        try:
            async for raw in provider.result_lines(client, row.provider_batch_id):
                line = parse(raw)
                if line is not None:
                    chunk.append(line)
                if len(chunk) >= RESULT_CHUNK_LINES:
                    await _record(engine, row.id, row.batch_id, row, chunk)
                    chunk = []
            await _record(engine, row.id, row.batch_id, row, chunk)
        except anthropic.NotFoundError:
            log.error("results of provider batch %s are gone", row.provider_batch_id)
        except TRANSIENT as exc:
            log.warning("reading results of provider batch %s failed, will retry: %s",
                        row.provider_batch_id, exc)
            continue
        await _finish_missing(engine, row.id, row.batch_id)
        await _done(engine, row.id)
        log.info("batch %s: results of provider batch %s recorded", row.batch_id,
                 row.provider_batch_id)


async def _finish_missing(engine: AsyncEngine, provider_batch: int, batch_id: str) -> None:
    """Requests the provider's results did not mention end errored: none stays open."""
    async with engine.connect() as conn:
        missing = [r.id for r in await conn.execute(queries["provider_batch_open_requests"],
                                                    {"id": provider_batch})]
    if missing:
        log.error("%d requests missing from the results of a provider batch", len(missing))
        body = msgspec.json.encode({"type": "error", "error": {
            "type": "api_error",
            "message": "The provider's batch results did not include this request."}}).decode()
        await _record(engine, provider_batch, batch_id, None, [
            _Line(rid, "errored", error=body, error_type="api_error") for rid in missing],
            record_calls=False)


async def _done(engine: AsyncEngine, provider_batch: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(queries["provider_batch_done"], {"id": provider_batch})


async def _record(engine: AsyncEngine, provider_batch: int, batch_id: str, submitted: Any,
                  lines: Sequence[_Line], *, record_calls: bool = True) -> None:
    """One chunk of outcomes in one transaction (see ``provider_results_record``)."""
    if not lines:
        return
    async with engine.begin() as conn:
        await conn.execute(queries["batch_lock_by_id"], {"id": batch_id})
        row = (await conn.execute(queries["provider_results_record"], {
            "id": provider_batch,
            "batch_id": batch_id,
            "provider_batch_id": submitted.provider_batch_id if submitted else None,
            "started_at": submitted.submitted_at if submitted else dt.datetime.now(dt.UTC),
            "record_calls": record_calls,
            "request_ids": [line.request_id for line in lines],
            "statuses": [line.status for line in lines],
            "results": [line.result for line in lines],
            "errors": [line.error for line in lines],
            "models": [line.model for line in lines],
            "error_types": [line.error_type for line in lines],
            "input_tokens": [line.usage.input_tokens for line in lines],
            "output_tokens": [line.usage.output_tokens for line in lines],
            "cache_5m_tokens": [line.usage.cache_creation_5m_tokens for line in lines],
            "cache_1h_tokens": [line.usage.cache_creation_1h_tokens for line in lines],
            "cache_read_tokens": [line.usage.cache_read_tokens for line in lines],
        })).first()
    if row is None:
        return
    for status in STATUSES:
        if getattr(row, status):
            metrics.REQUESTS_FINISHED.labels(status).inc(getattr(row, status))
    if row.batch_ended and row.finished:
        log.info("batch %s ended", batch_id)
