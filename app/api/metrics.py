"""``/metrics`` for Prometheus, and the middleware that counts and times every API request by
its route template (never by its concrete path: no ids in labels)."""
from __future__ import annotations

import time

from litestar import get
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.api.dependencies import Engine


@get("/metrics", include_in_schema=False)
async def serve_metrics(engine: Engine) -> Response[bytes]:
    await metrics.refresh_queue_depth(engine)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def count_requests(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)

    return middleware
