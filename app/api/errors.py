"""One error shape everywhere: ``{"type": "error", "error": {"type": ..., "message": ...}}``.

Domain errors carry their Anthropic type; framework errors (unknown route, wrong method,
oversized body) are mapped by status; anything else is a 500 ``api_error`` whose body never
holds a stack trace or SQL (those go to the log).
"""
from __future__ import annotations

import logging
import re

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

from app.db.engine import is_unreachable, is_unstorable_input
from app.errors import BatchmillError
from app.schemas import ErrorResponse

log = logging.getLogger("batchmill.api")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_response(status: int, error_type: str, message: str) -> Response[dict[str, object]]:
    return Response(
        {"type": "error", "error": {"type": error_type, "message": message}},
        status_code=status,
        media_type=MediaType.JSON,
    )


def handle_domain_error(_: Request, exc: BatchmillError) -> Response[dict[str, object]]:
    return error_response(exc.status_code, exc.error_type, exc.message)


_INDEX = re.compile(r"\[(\d+)\]")

MESSAGES = {
    413: "Request exceeds the maximum allowed number of bytes.",
    405: "Method not allowed for this path.",
}


def _field_error(error: dict[str, object]) -> str:
    """``requests[3].custom_id`` + msgspec's message → ``requests.3.custom_id: …``."""
    key, message = str(error.get("key", "")), str(error.get("message", ""))
    if key == "data":  # the body as a whole
        return "body: Field required (a JSON object)." if message == "'data'" else message
    path = _INDEX.sub(r".\1", key)
    return f"{path}: {message}"


def _message(exc: HTTPException) -> str:
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        return "; ".join(_field_error(e) for e in exc.extra if isinstance(e, dict))
    return MESSAGES.get(exc.status_code, exc.detail)


def handle_http_exception(_: Request, exc: HTTPException) -> Response[dict[str, object]]:
    status = exc.status_code
    error_type = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    message = _message(exc) if status < 500 else "Internal server error."
    response = error_response(status, error_type, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


DATABASE_RETRY_AFTER_SECONDS = 1
def handle_database_error(request: Request, exc: Exception) -> Response[dict[str, object]]:
    """Postgres unreachable (restarting, failing over): 503 with retry-after, which the SDK
    retries by itself. A request value Postgres cannot store is a 400; any other database
    error is a plain 500."""
    if is_unstorable_input(exc):
        return error_response(400, "invalid_request_error",
                              "The request holds a NUL character (\\u0000), which Batchmill "
                              "cannot store or look up.")
    if not is_unreachable(exc):
        return handle_unexpected(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    response = error_response(503, "overloaded_error",
                              "The database is unavailable; retry shortly.")
    response.headers["retry-after"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def handle_unexpected(request: Request, exc: Exception) -> Response[dict[str, object]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "api_error", "Internal server error.")


def documented_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Document error responses in the shape they really have (not Litestar's default).
    Any request can be malformed (400), unauthenticated (401) or meet an internal error."""
    meaning = {400: "Invalid request", 401: "Missing, unknown or revoked API key",
               403: "This API key may not do this",
               404: "No such batch for this API key's tenant",
               413: "Request body over the size limit", 500: "Internal error"}
    return {s: ResponseSpec(data_container=ErrorResponse, description=meaning[s])
            for s in (400, *statuses, 401, 500)}
