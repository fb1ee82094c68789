"""HTTP layer of the Claude API simulator: a Litestar app and its uvicorn runner.

The app only translates between HTTP and the pure functions in ``messages``:
authenticate, read the body, validate, wait ``latency_seconds``, answer. Every
response, success or error, is built by ``_json_response``, so each one carries
a fresh ``request-id`` header as the real API's do, and every error uses
Anthropic's envelope ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler

from app.serving import serve_asgi
from app.simulator.config import SimulatorConfig
from app.simulator.messages import InvalidRequestError, build_message, decode_request, new_id, validate_request

logger = logging.getLogger(__name__)

#: Header carrying the per-response id; the SDK exposes it as ``request_id``.
REQUEST_ID_HEADER: Final[str] = "request-id"
#: Anthropic error ``type`` for each HTTP status the API uses.
ERROR_TYPE_BY_STATUS: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
)

_ENCODER: Final = msgspec.json.Encoder()
_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})


class ApiError(Exception):
    """A failure answered with Anthropic's error envelope; ``headers`` are added to the
    response (e.g. ``retry-after`` for a future injected 429)."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] = _NO_HEADERS) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def error_type_for_status(status_code: int) -> str:
    """Anthropic error type for an HTTP status; unlisted statuses map to the generic types."""
    known = ERROR_TYPE_BY_STATUS.get(status_code)
    if known is not None:
        return known
    return "api_error" if status_code >= 500 else "invalid_request_error"


def error_body(status_code: int, message: str, request_id: str) -> dict[str, Any]:
    """The exact JSON envelope Anthropic uses for every error response."""
    error = {"type": error_type_for_status(status_code), "message": message}
    return {"type": "error", "error": error, "request_id": request_id}


def _json_response(
    status_code: int, body: dict[str, Any], request_id: str, headers: Mapping[str, str] = _NO_HEADERS
) -> Response[bytes]:
    """Encode ``body`` once with msgspec and attach the ``request-id`` header."""
    return Response(
        content=_ENCODER.encode(body),
        status_code=status_code,
        media_type="application/json",
        headers={**headers, REQUEST_ID_HEADER: request_id},
    )


def _error_response(status_code: int, message: str, headers: Mapping[str, str] = _NO_HEADERS) -> Response[bytes]:
    """An error response; the body's ``request_id`` equals the header's."""
    request_id = new_id("req_")
    return _json_response(status_code, error_body(status_code, message, request_id), request_id, headers)


def _on_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    """Errors the simulator raises on purpose (auth now; injected faults later)."""
    return _error_response(exc.status_code, exc.message, exc.headers)


def _on_invalid_request(_: Request[Any, Any, Any], exc: InvalidRequestError) -> Response[bytes]:
    """A body that breaks the Messages API contract: 400 ``invalid_request_error``."""
    return _error_response(400, str(exc))


def _on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Framework errors (unknown route 404, wrong method 405, body too large 413)."""
    return _error_response(exc.status_code, exc.detail, dict(exc.headers or {}))


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug in the simulator: log it and answer 500 ``api_error`` like the real API."""
    logger.error("simulator failed on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, "Internal server error")


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


def create_app(config: SimulatorConfig) -> Litestar:
    """Build the simulator's ASGI app for ``config``."""

    @post("/messages", status_code=200, request_max_body_size=config.max_request_bytes)
    async def create_message(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``POST /v1/messages``: validate, wait the configured latency, answer deterministically."""
        body = decode_request(await request.body())
        parsed = validate_request(body, max_output_tokens=config.model_default_max_output)
        if config.latency_seconds > 0:
            await asyncio.sleep(config.latency_seconds)
        message = build_message(parsed, message_id=new_id("msg_"), summary_words=config.summary_words)
        return _json_response(200, message, new_id("req_"))

    # Every /v1 route shares authentication; later endpoints (batches) join this router.
    v1 = Router("/v1", route_handlers=[create_message], guards=[_require_api_key])
    return Litestar(
        route_handlers=[v1],
        exception_handlers={
            ApiError: _on_api_error,
            InvalidRequestError: _on_invalid_request,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
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
