"""Batches: check a submission, choose its mode, store it atomically, list, cancel, delete,
stream results.

Submission is one transaction: the batch row, every request row and every request's queue
row commit together or not at all, in two statements whatever the batch size.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import budgets, ids, metrics, queue, routing
from app.errors import InvalidRequest, NotFound
from app.llm.caching import mark_shared_system_prompts
from app.llm.rate_limiter import CHARS_PER_TOKEN, estimate_need
from app.schemas import BatchCreate
from app.sql import queries

MAX_METADATA_BYTES = 16 * 1024
AUTO_PROVIDER_MIN_REQUESTS = 100
"""Mode auto sends a batch through the provider's Message Batches API (half price, up to 24 h)
when the caller's completion_window allows 24 hours and the batch has at least this many
requests; a smaller or more urgent batch runs realtime."""
PROVIDER_WINDOW_SECONDS = 24 * 3600
EXPIRES_IN = {"realtime": 24 * 3600, "provider_batch": 25 * 3600}
"""Seconds from creation to ``expires_at``. A provider batch may take 24 hours from its
submission and then reports its own expired requests; Batchmill's expiry is the backstop."""
_WINDOW_UNITS = {"m": 60, "h": 3600, "d": 86400}
RESULTS_CHUNK_ROWS = 1_000
ROLES = ("user", "assistant")
_INDEX = re.compile(r"\[(\d+)\]")

_encode = msgspec.json.encode


def _check_storable(field: str, raw: bytes) -> None:
    """JSON text a jsonb column can hold: UTF-8 throughout (the body's decoder skips over
    params without checking it) and no ``\\u0000``."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        raise InvalidRequest(f"{field}: not valid UTF-8.") from None
    if _holds_nul(raw):
        raise InvalidRequest(f"{field}: a string holds \\u0000 (NUL), which cannot be stored.")


def _holds_nul(raw: bytes) -> bool:
    """Whether JSON text escapes a NUL (``\\u0000``, not an escaped backslash before
    ``u0000``): valid JSON, but no jsonb or text column can hold it."""
    at = raw.find(b"\\u0000")
    while at != -1:
        before = at
        while before > 0 and raw[before - 1] == 0x5C:  # backslashes escaping this one
            before -= 1
        if (at - before) % 2 == 0:
            return True
        at = raw.find(b"\\u0000", at + 1)
    return False


_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def decode_batch(body: bytes) -> BatchCreate:
    """Decode a submission straight from its bytes (each request's params stay raw JSON that
    points into ``body``), turning msgspec's errors into Anthropic-style messages."""
    try:
        batch = msgspec.json.decode(body, type=BatchCreate)
    except msgspec.ValidationError as exc:
        match = _PATH.match(str(exc))
        assert match is not None
        path = _INDEX.sub(r".\1", (match["path"] or "").lstrip(".")) or "body"
        raise InvalidRequest(f"{path}: {match['message']}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    check_callback_url(batch.callback_url)  # before anything resolves or stores it
    return batch


def check_callback_url(url: str | None) -> None:
    """An absolute http(s) URL with a host and a valid port, and no NUL (the schema checks
    the scheme and length)."""
    if url is None:
        return
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises for one out of range
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host or "\x00" in url:
        raise InvalidRequest("callback_url: must be an absolute http(s) URL with a host "
                             "(and a port, if any, from 0 to 65535).")


def check_batch(batch: BatchCreate) -> list[_ParamsView | dict[str, Any]]:
    """What the schema cannot say. Raises for a batch Anthropic would refuse (duplicate
    custom_ids, params that are not objects, oversized metadata, an unusable callback URL);
    returns, per request, its params' error (which becomes an errored result) or the params
    to send."""
    seen: dict[str, int] = {}
    for index, request in enumerate(batch.requests):
        first = seen.setdefault(request.custom_id, index)
        if first != index:
            raise InvalidRequest(
                f"requests.{index}.custom_id: duplicate custom_id {request.custom_id!r} "
                f"(first used by requests.{first}); custom_id must be unique within a batch."
            )
    for index, request in enumerate(batch.requests):
        _check_storable(f"requests.{index}.params", bytes(request.params))
    metadata = None if batch.metadata is None else _encode(batch.metadata)
    if metadata is not None and len(metadata) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata: must be at most {MAX_METADATA_BYTES:,} bytes of JSON.")
    if metadata is not None:
        _check_storable("metadata", metadata)
    check_callback_url(batch.callback_url)
    views = [_view(i, r.params) for i, r in enumerate(batch.requests)]
    return [params_error(v) or v for v in views]


class _ParamsView(msgspec.Struct):
    """The fields of Messages params read at submission (checks, worst-case cost); the rest
    pass through untouched."""

    model: Any = None
    max_tokens: Any = None
    messages: Any = None
    stream: Any = None
    system: Any = None
    tools: Any = None


def _view(index: int, raw: msgspec.Raw) -> _ParamsView:
    try:
        return msgspec.json.decode(raw, type=_ParamsView)
    except msgspec.ValidationError:
        raise InvalidRequest(f"requests.{index}.params: Expected `object`.") from None


def _invalid(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def params_error(params: Mapping[str, Any] | _ParamsView) -> dict[str, Any] | None:
    """The error Anthropic would report for these Messages params, or None if they may be sent.
    Like Anthropic, these problems become errored results, not a rejected batch."""
    if isinstance(params, Mapping):
        params = _ParamsView(**{f: params.get(f) for f in _ParamsView.__struct_fields__})
    model = params.model
    if not isinstance(model, str) or not model:
        return _invalid("params.model: Field required (a non-empty string).")
    max_tokens = params.max_tokens
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return _invalid("params.max_tokens: Field required (an integer >= 1).")
    messages = params.messages
    if not isinstance(messages, list) or not messages:
        return _invalid("params.messages: Field required (a non-empty list).")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return _invalid(f"params.messages.{index}.role: must be 'user' or 'assistant'.")
        content = message.get("content")
        if not (isinstance(content, str) and content) and not (isinstance(content, list) and content):
            return _invalid(f"params.messages.{index}.content: Field required.")
    if params.stream:
        return _invalid("params.stream: streaming is not supported in Message Batches.")
    return None


async def _route(conn: AsyncConnection, batch: BatchCreate,
                 checked: list[_ParamsView | dict[str, Any]]) -> list[msgspec.Raw]:
    """Resolve routes (``"model": "auto"``) to concrete models, in place in ``checked``;
    returns each request's params to store."""
    params = [r.params for r in batch.requests]
    routes = await routing.load_routes(conn)
    default_task = (batch.metadata or {}).get("task_type")
    for i, (request, view) in enumerate(zip(batch.requests, checked, strict=True)):
        if not isinstance(view, _ParamsView) or view.model not in routes:
            continue
        need = estimate_need(msgspec.structs.asdict(view))
        view.model = routing.resolve(routes[view.model], view.model,
                                     request.task_type or default_task,
                                     need.input_tokens * CHARS_PER_TOKEN)
        body = msgspec.json.decode(request.params)
        body["model"] = view.model
        params[i] = msgspec.Raw(msgspec.json.encode(body))
    return params


def chosen_mode(batch: BatchCreate) -> str:
    """The mode a batch runs in: as asked, or for ``auto`` by the rule above."""
    if batch.mode != "auto":
        return batch.mode
    window = batch.completion_window
    seconds = int(window[:-1]) * _WINDOW_UNITS[window[-1]] if window else 0
    if seconds >= PROVIDER_WINDOW_SECONDS and len(batch.requests) >= AUTO_PROVIDER_MIN_REQUESTS:
        return "provider_batch"
    return "realtime"


async def create_batch(conn: AsyncConnection, tenant_id: int, batch: BatchCreate) -> str:
    """Insert the batch, its requests and their queue rows; the caller owns the transaction.
    Before that: params problems become errored requests, routes become models, the budget
    is checked against the worst case, and a shared system prompt is marked for caching."""
    checked = check_batch(batch)
    errors = [c if isinstance(c, dict) else None for c in checked]
    params = await _route(conn, batch, checked)
    await budgets.check_submission(conn, tenant_id, (
        (c.model, estimate_need(msgspec.structs.asdict(c)))
        for c in checked if isinstance(c, _ParamsView)))
    marked = (mark_shared_system_prompts([None if e else p for p, e in
                                          zip(params, errors, strict=True)])
              if batch.auto_cache else [None] * len(params))
    batch_id = ids.batch_id()
    mode = chosen_mode(batch)
    await conn.execute(queries["batch_insert"], {
        "id": batch_id,
        "tenant_id": tenant_id,
        "mode": mode,
        "expires_in": EXPIRES_IN[mode],
        "priority": batch.priority,
        "callback_url": batch.callback_url,
        "metadata": None if batch.metadata is None else _encode(batch.metadata).decode(),
        "request_count": len(batch.requests),
        "processing_count": errors.count(None),
    })
    await conn.execute(queries["requests_insert_and_defer"], {
        "batch_id": batch_id,
        "custom_ids": [r.custom_id for r in batch.requests],
        "params": [(m or bytes(p)).decode() for p, m in zip(params, marked, strict=True)],
        "priorities": [batch.priority if r.priority is None else r.priority
                       for r in batch.requests],
        "errors": [None if e is None else _encode(e).decode() for e in errors],
        "queue": queue.QUEUE,
        "task": queue.PROCESS_REQUEST,
        # provider_batch requests are gathered by the provider batches job, not queued one by one
        "defer": mode == "realtime",
    })
    metrics.BATCHES_CREATED.labels(mode).inc()
    metrics.REQUESTS_SUBMITTED.labels(mode).inc(len(batch.requests))
    if refused := len(errors) - errors.count(None):  # errored at submission, never sent
        metrics.REQUESTS_FINISHED.labels("errored").inc(refused)
    return batch_id


async def get_batch(conn: AsyncConnection, tenant_id: int, batch_id: str) -> RowMapping:
    row = (await conn.execute(queries["batch_status_get"],
                              {"id": batch_id, "tenant_id": tenant_id})).mappings().first()
    if row is None:
        raise NotFound(f"Message batch {batch_id} not found.")
    return row


async def list_batches(conn: AsyncConnection, tenant_id: int, *, limit: int,
                       after_id: str | None, before_id: str | None) -> tuple[list[RowMapping], bool]:
    """One page, newest first, and whether more lie beyond it in the direction of travel."""
    if before_id is not None:
        rows = list((await conn.execute(queries["batches_page_newer"], {
            "tenant_id": tenant_id, "before_id": before_id, "limit": limit + 1})).mappings())
        has_more = len(rows) > limit
        return rows[:limit][::-1], has_more
    rows = list((await conn.execute(queries["batches_page_older"], {
        "tenant_id": tenant_id, "after_id": after_id, "limit": limit + 1})).mappings())
    return rows[:limit], len(rows) > limit


async def cancel_batch(conn: AsyncConnection, tenant_id: int, batch_id: str) -> RowMapping:
    """Queued requests become canceled at once; running ones finish. Idempotent."""
    locked = (await conn.execute(queries["batch_lock"],
                                 {"id": batch_id, "tenant_id": tenant_id})).first()
    if locked is None:
        raise NotFound(f"Message batch {batch_id} not found.")
    if locked.ended_at is None:
        canceled = (await conn.execute(queries["batch_cancel"], {"id": batch_id})).scalar_one()
        if canceled:
            metrics.REQUESTS_FINISHED.labels("canceled").inc(canceled)
    return await get_batch(conn, tenant_id, batch_id)


async def delete_batch(conn: AsyncConnection, tenant_id: int, batch_id: str) -> None:
    deleted = (await conn.execute(queries["batch_delete"],
                                  {"id": batch_id, "tenant_id": tenant_id})).first()
    if deleted is None:
        row = await get_batch(conn, tenant_id, batch_id)  # 404 if it is not the caller's
        raise InvalidRequest(
            f"Message batch {batch_id} is {row['processing_status']}: a batch can be deleted "
            "once it has ended; cancel it first."
        )


def result_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """One results line, shaped exactly as Anthropic's. The stored message or error arrives as
    JSON text and is spliced in as is (no decode and re-encode per line)."""
    status = row["status"]
    if status == "succeeded":
        result = {"type": "succeeded", "message": msgspec.Raw(row["result"].encode())}
    elif status == "errored":
        result = {"type": "errored", "error": msgspec.Raw(row["error"].encode())}
    else:
        result = {"type": status}
    return {"custom_id": row["custom_id"], "result": result}


async def stream_results(engine: AsyncEngine, batch_id: str) -> AsyncIterator[bytes]:
    """JSONL, one line per request in submission order, read through a server-side cursor so
    memory stays flat whatever the batch size."""
    encoder = msgspec.json.Encoder()
    async with engine.connect() as conn:
        result = await conn.stream(queries["batch_results"], {"batch_id": batch_id})
        async for rows in result.mappings().partitions(RESULTS_CHUNK_ROWS):
            chunk = bytearray()
            for row in rows:
                encoder.encode_into(result_line(row), chunk, len(chunk))
                chunk += b"\n"
            yield bytes(chunk)
