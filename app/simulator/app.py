"""HTTP layer of the Claude API simulator: a Litestar app and its uvicorn runner.

The app only translates between HTTP and the pure pieces next to it:
authenticate, read the body, validate (``messages``), draw a fault (``faults``),
plan the prompt-cache reads and writes (``cache``), take rate-limit capacity
(``ratelimits``; cache reads are free), wait a sampled latency (``latency``),
apply the cache plan and answer. ``tracking.call_tracker`` wraps
``POST /v1/messages`` to count every call for ``GET /_simulator/stats`` and to
drop connections on demand. Responses and errors are built by ``errors``
(request-id header, Anthropic's error envelope). The Message Batches endpoints
(``/v1/messages/batches``) are thin wrappers over ``batches.BatchStore``; a timer
per batch ends it when its processing time is up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, Router, delete, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.types import Receive

from app.serving import serve_asgi
from app.simulator.batches import (
    DEFAULT_LIST_LIMIT,
    MAX_BATCH_REQUEST_BYTES,
    Batch,
    BatchStore,
)
from app.simulator.cache import PromptCache
from app.simulator.config import SimulatorConfig
from app.simulator.errors import (
    ERROR_TYPE_BY_STATUS,
    REQUEST_ID_HEADER,
    ApiError,
    error_body,
    error_response,
    error_type_for_status,
    json_response,
)
from app.simulator.faults import ERROR_FAULTS, Fault, choose_fault, fault_error
from app.simulator.latency import sample_latency
from app.simulator.messages import (
    NO_CACHE_USAGE,
    InvalidRequestError,
    build_message,
    count_input_tokens,
    decode_request,
    new_id,
    validate_request,
)
from app.simulator.ratelimits import RateLimiter
from app.simulator.stats import SimulatorStats
from app.simulator.tracking import call_tracker, current_call, install_drop_log_filter

__all__ = [
    "ERROR_TYPE_BY_STATUS",
    "REQUEST_ID_HEADER",
    "ApiError",
    "create_app",
    "error_body",
    "error_type_for_status",
    "serve",
]

logger = logging.getLogger(__name__)

#: Unauthenticated endpoints for tests and benchmarks.
STATS_PATH: Final[str] = "/_simulator/stats"
RESET_PATH: Final[str] = "/_simulator/reset"

_ENCODER: Final = msgspec.json.Encoder()


def _on_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    """Errors the simulator raises on purpose: auth, injected faults, rate limits."""
    return error_response(exc.status_code, exc.message, exc.headers)


def _on_invalid_request(_: Request[Any, Any, Any], exc: InvalidRequestError) -> Response[bytes]:
    """A body that breaks the Messages API contract: 400 ``invalid_request_error``."""
    return error_response(400, str(exc))


def _on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Framework errors (unknown route 404, wrong method 405, body too large 413)."""
    return error_response(exc.status_code, exc.detail, dict(exc.headers or {}))


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug in the simulator: log it and answer 500 ``api_error`` like the real API."""
    logger.error("simulator failed on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error")


def _require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Accept any non-empty key sent as ``x-api-key: K`` or ``Authorization: Bearer K``."""
    headers = connection.headers
    if headers.get("x-api-key", "").strip():
        return
    authorization = headers.get("authorization")
    if authorization is None:
        raise ApiError(401, "invalid x-api-key" if "x-api-key" in headers else "x-api-key header is required")
    scheme, _sep, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid bearer token in authorization header")


async def _wait(receive: Receive, seconds: float) -> None:
    """Sleep ``seconds``, cut short when the client disconnects: nobody would read the answer,
    and a gone client must not keep the call in flight (or delay a graceful shutdown)."""
    if seconds <= 0:
        return
    # The body has been read, so the next ASGI message is the disconnect.
    disconnected = asyncio.ensure_future(receive())
    try:
        await asyncio.wait((disconnected,), timeout=seconds)
    finally:
        disconnected.cancel()


def create_app(config: SimulatorConfig) -> Litestar:
    """Build the simulator's ASGI app for ``config``; its stats, rate limits and prompt cache live in the app."""
    stats = SimulatorStats()
    limiter = RateLimiter(config.rpm, config.itpm, config.otpm)
    prompt_cache = PromptCache(config.prompt_cache_max_entries) if config.prompt_cache else None
    rng = random.Random(config.seed)
    install_drop_log_filter()
    batch_store = BatchStore(config, prompt_cache)
    batch_timers: dict[str, asyncio.TimerHandle] = {}

    def results_url(request: Request[Any, Any, Any], batch_id: str) -> str:
        """The absolute URL of a batch's results file on this server."""
        return f"{str(request.base_url).rstrip('/')}/v1/messages/batches/{batch_id}/results"

    def batch_response(request: Request[Any, Any, Any], batch: Batch) -> Response[bytes]:
        return json_response(200, BatchStore.to_json(batch, results_url(request, batch.id)), new_id("req_"))

    def settle_batch(batch_id: str) -> None:
        batch_timers.pop(batch_id, None)
        batch_store.settle(batch_id)

    @post("/messages/batches", status_code=200, request_max_body_size=MAX_BATCH_REQUEST_BYTES)
    async def create_batch(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``POST /v1/messages/batches``: start a batch and schedule its end."""
        batch = batch_store.create(decode_request(await request.body()))
        delay = max(0.0, batch.end_at - batch.created_at)
        batch_timers[batch.id] = asyncio.get_running_loop().call_later(delay, settle_batch, batch.id)
        return batch_response(request, batch)

    @get("/messages/batches")
    async def list_batches(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``GET /v1/messages/batches?limit&after_id&before_id``: a page of batches, newest first."""
        query = request.query_params
        raw_limit = query.get("limit")
        try:
            limit = DEFAULT_LIST_LIMIT if raw_limit is None else int(raw_limit)
        except ValueError:
            raise InvalidRequestError("limit: Input should be a valid integer") from None
        batches, has_more = batch_store.page(limit, query.get("after_id"), query.get("before_id"))
        body = {
            "data": [BatchStore.to_json(batch, results_url(request, batch.id)) for batch in batches],
            "has_more": has_more,
            "first_id": batches[0].id if batches else None,
            "last_id": batches[-1].id if batches else None,
        }
        return json_response(200, body, new_id("req_"))

    @get("/messages/batches/{batch_id:str}")
    async def retrieve_batch(request: Request[Any, Any, Any], batch_id: FromPath[str]) -> Response[bytes]:
        """``GET /v1/messages/batches/{id}``."""
        return batch_response(request, batch_store.get(batch_id))

    @post("/messages/batches/{batch_id:str}/cancel", status_code=200)
    async def cancel_batch(batch_id: FromPath[str]) -> Response[bytes]:
        """``POST /v1/messages/batches/{id}/cancel``: answered ``canceling``; the batch ends at once."""
        timer = batch_timers.pop(batch_id, None)
        if timer is not None:
            timer.cancel()
        return json_response(200, batch_store.cancel(batch_id), new_id("req_"))

    @delete("/messages/batches/{batch_id:str}", status_code=200)
    async def delete_batch(batch_id: FromPath[str]) -> Response[bytes]:
        """``DELETE /v1/messages/batches/{id}``: only an ended batch."""
        return json_response(200, batch_store.delete(batch_id), new_id("req_"))

    @get("/messages/batches/{batch_id:str}/results")
    async def batch_results(batch_id: FromPath[str]) -> Response[bytes]:
        """``GET /v1/messages/batches/{id}/results``: the JSONL results file."""
        return Response(
            content=batch_store.results(batch_id),
            media_type="application/x-jsonl",
            headers={REQUEST_ID_HEADER: new_id("req_")},
        )

    def cancel_batch_timers() -> None:
        """On shutdown: no batch timer may fire into a closed app."""
        for timer in batch_timers.values():
            timer.cancel()
        batch_timers.clear()

    @post(
        "/messages",
        status_code=200,
        request_max_body_size=config.max_request_bytes,
        middleware=[call_tracker(stats)],
    )
    async def create_message(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``POST /v1/messages``: validate, maybe misbehave, plan the cache, take rate-limit capacity, wait, answer."""
        call = current_call(request.scope)
        raw = await request.body()
        stats.record_body(raw)
        parsed = validate_request(decode_request(raw), max_output_tokens=config.model_default_max_output)
        model = parsed.model
        fault = choose_fault(config, rng)
        if fault is not None and fault in ERROR_FAULTS:
            raise fault_error(fault, config, limiter.headers(model))
        # Planned before admission (cache reads do not count toward ITPM), committed only
        # once answering: a rejected call leaves the cache as it was, and a new entry
        # becomes readable when its first response begins, as on the real API.
        plan = prompt_cache.plan(parsed) if prompt_cache is not None else None
        cache_usage = NO_CACHE_USAGE if plan is None else plan.usage
        admission = limiter.acquire(model, count_input_tokens(parsed) - cache_usage.read_tokens, parsed.max_tokens)
        if not admission.granted:
            stats.record_rate_limited(model)
            raise ApiError(429, admission.message, {**admission.headers, "retry-after": str(admission.retry_after)})
        unused_output = parsed.max_tokens
        try:
            if fault is Fault.SLOW:
                call.slow = True
                delay = config.slow_seconds
            else:
                delay = sample_latency(rng, config.latency_distribution, config.latency_seconds, config.latency_spread)
            await _wait(request.receive, delay)
            if plan is not None and prompt_cache is not None:
                prompt_cache.commit(plan)
                stats.record_cache(read=cache_usage.read_tokens > 0, wrote=cache_usage.write_tokens > 0)
            message = build_message(
                parsed, message_id=new_id("msg_"), summary_words=config.summary_words, cache=cache_usage
            )
            unused_output -= message["usage"]["output_tokens"]
        finally:
            limiter.refund(model, unused_output)
        call.drop = fault is Fault.DROP
        return json_response(200, message, new_id("req_"), limiter.headers(model))

    @get(STATS_PATH)
    async def get_stats() -> Response[bytes]:
        """The stats document (``stats.StatsSnapshot``); no auth, for tests and benchmarks."""
        return Response(content=_ENCODER.encode(stats.snapshot()), media_type="application/json")

    @post(RESET_PATH, status_code=200)
    async def reset_stats() -> Response[bytes]:
        """Zero the stats (rate-limit buckets and the prompt cache are untouched) and return the fresh document."""
        stats.reset()
        return Response(content=_ENCODER.encode(stats.snapshot()), media_type="application/json")

    # Every /v1 route shares authentication.
    batch_handlers = [create_batch, list_batches, retrieve_batch, cancel_batch, delete_batch, batch_results]
    v1 = Router("/v1", route_handlers=[create_message, *batch_handlers], guards=[_require_api_key])
    return Litestar(
        route_handlers=[v1, get_stats, reset_stats],
        exception_handlers={
            ApiError: _on_api_error,
            InvalidRequestError: _on_invalid_request,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        on_shutdown=[cancel_batch_timers],
        openapi_config=None,
        logging_config=None,
    )


async def serve(
    config: SimulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8090,
    *,
    sockets: Sequence[socket.socket] | None = None,
) -> None:
    """Run the simulator with uvicorn in the caller's event loop until cancelled (or SIGINT/SIGTERM).

    Pass already-bound ``sockets`` (e.g. on port 0) to serve on them instead of
    ``host``/``port``. Cancelling the task shuts the server down gracefully and
    closes its listening sockets before the cancellation propagates.
    """
    # Litestar is an ASGI 3 app; its scope TypedDicts just differ from uvicorn's private ones.
    await serve_asgi(create_app(config), host=host, port=port, sockets=sockets)  # type: ignore[arg-type]
