"""The worker's own HTTP port: ``/health/live`` for a liveness probe and Prometheus
``/metrics``. Loopback by default; containers bind it to all interfaces.

Live means the worker loop makes progress: the supervisor beats while it (re)starts
procrastinate, and a probe beats each time procrastinate's own connection pool answers a
query. A worker whose event loop, pool or database connection hangs stops beating and fails
the probe after ``stuck_after_seconds``; a worker waiting out a database outage keeps beating
(it is doing the right thing, and restarting it would not help).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import procrastinate
from litestar import Litestar, get
from litestar.response import Response

from app import metrics
from app.serving import loopback_socket, serve_asgi

log = logging.getLogger("batchmill.worker")


class Liveness:
    def __init__(self, stuck_after_seconds: float) -> None:
        self.stuck_after_seconds = stuck_after_seconds
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    @property
    def silent_seconds(self) -> float:
        return time.monotonic() - self._last

    @property
    def live(self) -> bool:
        return self.silent_seconds < self.stuck_after_seconds


async def probe(app: procrastinate.App, liveness: Liveness, every_seconds: float) -> None:
    """Beat each time procrastinate's pool answers; run alongside the procrastinate worker."""
    while True:
        with contextlib.suppress(Exception):  # silence is the signal, not the error
            await app.connector.execute_query_one_async("SELECT 1 AS one")
            liveness.beat()
        await asyncio.sleep(every_seconds)


def create_health_app(liveness: Liveness) -> Litestar:
    @get("/health/live", sync_to_thread=False)
    def live() -> Response[dict[str, object]]:
        silent = round(liveness.silent_seconds, 1)
        if liveness.live:
            return Response({"status": "ok", "silent_seconds": silent})
        return Response({"status": "stuck", "silent_seconds": silent}, status_code=503)

    @get("/metrics", sync_to_thread=False)
    def serve_metrics() -> Response[bytes]:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return Litestar(route_handlers=[live, serve_metrics], logging_config=None,
                    openapi_config=None)


async def serve_health(liveness: Liveness, host: str, port: int) -> None:
    sock = loopback_socket(port, host)
    log.info("worker health on http://%s:%d/health/live", host, sock.getsockname()[1])
    await serve_asgi(create_health_app(liveness), sockets=[sock], handle_signals=False)
