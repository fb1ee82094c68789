"""Serve an ASGI app with uvicorn inside the caller's event loop (API, simulator, demo, tests)."""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence

import uvicorn
from uvicorn._types import ASGIApplication

SHUTDOWN_GRACE_SECONDS = 10
LISTEN_BACKLOG = 4096


def loopback_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A bound, listening TCP socket (port 0: any free port) to hand to a server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)  # connections queue from now on: no refusal while starting
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _disable_nagle(sock: socket.socket) -> None:
    """Set TCP_NODELAY on a listener so accepted connections inherit it. asyncio sets it only
    on sockets whose ``proto`` is IPPROTO_TCP; without it Nagle plus delayed ACKs add ~40 ms
    to every response, because uvicorn writes headers and body separately."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve_asgi(app: ASGIApplication, *, host: str = "127.0.0.1", port: int = 8000,
                     sockets: Sequence[socket.socket] | None = None,
                     handle_signals: bool = True) -> None:
    """Run until cancelled or (with ``handle_signals``) SIGINT/SIGTERM. Cancelling shuts down
    gracefully: listeners close, in-flight requests finish, then the cancellation propagates.
    A server beside other work in the process (the worker's health port) leaves signals to
    its owner."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="on", backlog=LISTEN_BACKLOG,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
    server = uvicorn.Server(config)
    if not handle_signals:
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    listeners = list(sockets) if sockets is not None else None
    for sock in listeners or ():
        _disable_nagle(sock)
    try:
        await server.serve(sockets=listeners)
    except asyncio.CancelledError:
        # uvicorn shuts down gracefully only on a signal; do the same on cancellation.
        if server.started:
            await server.shutdown(sockets=listeners)
        raise
