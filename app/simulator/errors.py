"""Anthropic's error envelope and the JSON responses of the Claude API simulator.

Every response, success or error, is built by ``json_response``, so each one
carries a fresh ``request-id`` header as the real API's do, and every error uses
Anthropic's envelope ``{"type": "error", "error": {"type", "message"}}``. Kept
apart from the HTTP app so fault injection and rate limiting can raise
``ApiError`` without importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import msgspec
from litestar import Response

from app.simulator.messages import new_id

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
NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})


class ApiError(Exception):
    """A failure answered with Anthropic's error envelope; ``headers`` are added to the
    response (e.g. ``retry-after`` and ``anthropic-ratelimit-*`` on a 429)."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] = NO_HEADERS) -> None:
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


def json_response(
    status_code: int, body: object, request_id: str, headers: Mapping[str, str] = NO_HEADERS
) -> Response[bytes]:
    """Encode ``body`` once with msgspec and attach the ``request-id`` header."""
    return Response(
        content=_ENCODER.encode(body),
        status_code=status_code,
        media_type="application/json",
        headers={**headers, REQUEST_ID_HEADER: request_id},
    )


def error_response(status_code: int, message: str, headers: Mapping[str, str] = NO_HEADERS) -> Response[bytes]:
    """An error response; the body's ``request_id`` equals the header's."""
    request_id = new_id("req_")
    return json_response(status_code, error_body(status_code, message, request_id), request_id, headers)
