"""ASGI middleware around ``POST /v1/messages``: call accounting and dropped connections.

It sits outside Litestar's per-route exception handling, so it sees every
answer, including 401s from the auth guard and 400/413 errors, as the
``http.response.start`` its ``send`` forwards. It hands the handler a ``Call``
(through ``scope["state"]``) so the handler can ask for the connection to be
dropped; the middleware then sends the headers and only half of the body and
returns, and uvicorn closes the connection: the client sees a connection error,
never a parsed status.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any, Final, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.simulator.stats import Call, SimulatorStats

#: ``scope["state"]`` key of the current ``Call``.
CALL_STATE_KEY: Final[str] = "batchmill_simulator_call"
#: What uvicorn logs (as an error) when an app returns with the body unfinished.
_UVICORN_INCOMPLETE: Final[str] = "ASGI callable returned without completing response."

#: Set in the request's task when a drop is injected, so the log filter below only
#: silences uvicorn's complaint about *our* deliberate drops.
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("batchmill_simulator_dropping", default=False)


class _DeliberateDropFilter(logging.Filter):
    """Hide uvicorn's error log for connections the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and record.msg == _UVICORN_INCOMPLETE)


_DROP_FILTER: Final = _DeliberateDropFilter()


def install_drop_log_filter() -> None:
    """Attach the filter to uvicorn's error logger (idempotent; uvicorn's dictConfig keeps filters)."""
    logging.getLogger("uvicorn.error").addFilter(_DROP_FILTER)


def current_call(scope: Scope) -> Call:
    """The ``Call`` the middleware attached to this request."""
    return cast(Call, cast(dict[str, Any], scope["state"])[CALL_STATE_KEY])


def call_tracker(stats: SimulatorStats) -> Callable[[ASGIApp], ASGIApp]:
    """Route middleware counting each call in ``stats`` (in-flight, peak, outcome) and
    performing injected drops.

    A plain function factory rather than a middleware instance on purpose:
    Litestar deep-copies routers when registering them, which would copy an
    instance's ``stats``; a closure is shared as is.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def track(scope: Scope, receive: Receive, send: Send) -> None:
            call = stats.begin()
            state = cast(dict[str, Any], scope.setdefault("state", {}))  # type: ignore[typeddict-item]
            state[CALL_STATE_KEY] = call

            async def tracking_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    call.status = message["status"]
                elif message["type"] == "http.response.body" and call.drop:
                    await _send_truncated(message, send)
                    return
                await send(message)

            try:
                await app(scope, receive, tracking_send)
            finally:
                stats.end(call)

        return track

    return middleware


async def _send_truncated(message: Message, send: Send) -> None:
    """Send half of the body as "more to come" and never finish it (at most once per call)."""
    if _dropping.get():
        return
    _dropping.set(True)
    body = cast(bytes, message.get("body", b""))
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
