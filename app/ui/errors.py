"""Errors under ``/ui`` are pages for people, not the API's JSON.

Registered on the ``/ui`` router, these handlers take precedence there over the app's
Anthropic-shaped ones for the same exception types (Litestar resolves the innermost layer
first); the API's routes keep theirs. A missing session redirects to the sign-in form, except
for the JSON progress endpoint, which answers 401 so its script can send the page there.
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from app.db.engine import is_unreachable, is_unstorable_input
from app.errors import BatchmillError
from app.ui.session import COOKIE_PATH, SESSION_COOKIE, SignInRequired

log = logging.getLogger("batchmill.ui")

SIGN_IN_PATH = "/ui/sign-in"
PROGRESS_PATH = "/ui/progress"
TITLES = {400: "Bad request", 401: "Sign-in failed", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 500: "Something went wrong", 503: "Unavailable"}


def redirect_to_sign_in(request: Request, _: SignInRequired) -> Response[object]:
    if request.url.path == PROGRESS_PATH:
        return Response({"error": "signed out"}, status_code=401, media_type=MediaType.JSON)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"{SIGN_IN_PATH}?next={quote(target, safe='')}", status_code=303,
                    cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path=COOKIE_PATH)])


def error_page(request: Request, exc: Exception) -> Response[object]:
    """The status and message of a domain or HTTP error; a plain 500 (details logged only)
    or 503 (database unreachable) for anything else."""
    headers: dict[str, str] = {}
    if isinstance(exc, BatchmillError):
        status, message = exc.status_code, exc.message
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status, message = exc.status_code, exc.detail
    elif is_unstorable_input(exc):  # a NUL in an id or cursor: the caller's error
        status, message = 400, "The address holds a NUL character, which cannot be looked up."
    elif is_unreachable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        status, message = 503, "The database is unavailable; try again shortly."
        headers["retry-after"] = "1"
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path,
                      exc_info=exc)
        status, message = 500, "Internal server error."
    return Template(template_name="error.html", status_code=status, headers=headers,
                    media_type=MediaType.HTML,
                    context={"status": status, "title": TITLES.get(status, "Error"),
                             "message": message})
