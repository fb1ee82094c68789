"""Domain errors. Each maps to one of Anthropic's error types and HTTP statuses; the API's
single exception handler turns them into ``{"type": "error", "error": {...}}``.
Subclasses use their docstring as the default message."""
from __future__ import annotations


class BatchmillError(Exception):
    """Internal server error."""

    status_code = 500
    error_type = "api_error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class InvalidRequest(BatchmillError):
    """Invalid request."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(BatchmillError):
    """Invalid or missing API key."""

    status_code = 401
    error_type = "authentication_error"


class PermissionDenied(BatchmillError):
    """This API key may not perform this action."""

    status_code = 403
    error_type = "permission_error"


class NotFound(BatchmillError):
    """Not found."""

    status_code = 404
    error_type = "not_found_error"


class RequestTooLarge(BatchmillError):
    """Request exceeds the maximum allowed number of bytes."""

    status_code = 413
    error_type = "request_too_large"
