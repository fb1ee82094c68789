"""A small client of the Batchmill API that turns every failure into a ``ConsoleError``.

Anthropic-shaped errors (``{"type": "error", "error": {"type", "message"}}``) keep the API's
message; transport failures become "cannot reach URL: reason".
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from app import __version__
from app.console.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    Unreachable,
    UsageError,
)

BATCHES = "/v1/messages/batches"
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0
# After the upload the API writes every request row in one transaction: give it time.
SUBMIT_TIMEOUT_SECONDS = 600.0
MAX_LIST_PAGE = 1000  # the API's largest page
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


def _reason(exc: httpx.TransportError) -> str:
    """``[Errno 111] Connection refused`` → ``connection refused``."""
    text = _ERRNO.sub("", str(exc)).strip() or type(exc).__name__
    return text[:1].lower() + text[1:]


class ApiClient:
    """The Message Batches endpoints the terminal commands use, over one connection pool."""

    def __init__(self, url: str, api_key: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url must be an http(s):// URL, got {url!r}")
        if not api_key:
            raise AuthenticationError("no API key: pass --api-key or set BATCHMILL_API_KEY")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"x-api-key": api_key, "user-agent": f"batchmill/{__version__}"},
            timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._http.close()

    def check(self) -> None:
        """Fail early (bad key, no server) before a long upload starts."""
        self.list_page(limit=1)

    def create_batch(self, body: Iterable[bytes]) -> dict[str, Any]:
        """POST a body produced piece by piece (sent chunked, never held whole)."""
        return self._json("POST", f"{BATCHES}/", content=body,
                          headers={"content-type": "application/json"},
                          timeout=httpx.Timeout(SUBMIT_TIMEOUT_SECONDS,
                                                connect=CONNECT_TIMEOUT_SECONDS))

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", _batch_path(batch_id))

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._json("POST", f"{_batch_path(batch_id)}/cancel")

    def list_page(self, *, limit: int, after_id: str | None = None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if after_id:
            params["after_id"] = after_id
        return self._json("GET", f"{BATCHES}/", params=params)

    def list_batches(self, limit: int) -> Iterator[dict[str, Any]]:
        """Up to ``limit`` batches, newest first, a page at a time."""
        after: str | None = None
        while limit > 0:
            page = self.list_page(limit=min(limit, MAX_LIST_PAGE), after_id=after)
            yield from page["data"]
            limit -= len(page["data"])
            if not page["has_more"] or not page["data"]:
                return
            after = page["last_id"]

    @contextlib.contextmanager
    def results(self, batch_id: str) -> Iterator[Iterator[bytes]]:
        """The results JSONL as byte chunks, as they arrive."""
        with self._translated(), self._http.stream(
                "GET", f"{_batch_path(batch_id)}/results") as response:
            _raise_for_status(response)
            yield response.iter_bytes()

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._translated():
            response = self._http.request(method, path, **kwargs)
            _raise_for_status(response)
            try:
                body = response.json()
            except ValueError:
                raise ApiError(f"{method} {response.url}: the answer is not JSON; is --url a "
                               "Batchmill API?") from None
        if not isinstance(body, dict):
            raise ApiError(f"{method} {response.url}: unexpected answer {body!r:.80}")
        return body

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        except httpx.TimeoutException:
            error = ApiError(f"{self.url} did not answer in time", status=0)
            error.transient = True
            raise error from None
        except httpx.UnsupportedProtocol as exc:
            raise UsageError(f"--url {self.url}: {exc}") from None
        except httpx.TransportError as exc:
            error = ApiError(f"connection to {self.url} failed: {_reason(exc)}", status=0)
            error.transient = True
            raise error from None


def _batch_path(batch_id: str) -> str:
    if not batch_id.strip():
        raise UsageError("a batch id is required")
    return f"{BATCHES}/{quote(batch_id.strip(), safe='')}"


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    response.read()
    status = response.status_code
    message = f"{response.request.method} {response.url}: HTTP {status} {response.reason_phrase}"
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        message = str(response.json()["error"]["message"]) or message
    if status in (401, 403):
        raise AuthenticationError(f"{message} (check --api-key or BATCHMILL_API_KEY)")
    if status == 404:
        raise NotFoundError(message)
    raise ApiError(message, status=status)
