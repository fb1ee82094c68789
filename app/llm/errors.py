"""Classify provider failures: retry what can succeed later, finish what cannot.

429, 529, 5xx, 408/409, timeouts and connection errors are retryable; every other 4xx
(400, 401, 403, 404, 413, ...) is final after one call.
"""
from __future__ import annotations

from typing import Any

import anthropic

from app.llm.outcome import CallError

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after`` in seconds (Anthropic sends an integer); None when absent or unparsable."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(exc: Exception) -> CallError:
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) and exc.body.get("type") == "error" else None
        inner = (body or {}).get("error") or {}
        error_type = inner.get("type") or exc.type or ("api_error" if status >= 500 else "invalid_request_error")
        message = inner.get("message") or exc.api_message or str(exc)
        return CallError(
            error_type=error_type,
            message=message,
            retryable=status in RETRYABLE_STATUSES or status >= 500,
            retry_after_seconds=retry_after_seconds(exc.response.headers),
            body=body or error_body(error_type, message, exc.request_id),
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return CallError("timeout_error", "The provider call timed out.", retryable=True,
                         body=error_body("api_error", "The provider call timed out."))
    if isinstance(exc, anthropic.APIConnectionError):
        message = f"Could not reach the provider: {exc}"
        return CallError("connection_error", message, retryable=True,
                         body=error_body("api_error", message))
    raise exc
