"""Webhooks: the signature a receiver checks, the callback URL rule, and the retry schedule.

A delivery is ``POST callback_url`` with the final MessageBatch JSON as its body and headers
``Batchmill-Event-Id: evt_…`` (the same on every retry: receivers dedupe on it) and
``Batchmill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import socket
import time
from urllib.parse import urlsplit

from app.errors import InvalidRequest

SIGNATURE_HEADER = "Batchmill-Signature"
EVENT_ID_HEADER = "Batchmill-Event-Id"
MAX_RETRY_SECONDS = 3600.0
TOLERANCE_SECONDS = 300
"""Receivers should refuse a signature older than this (replays)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """The check a receiver makes (the README shows it standalone)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempt: int, base: float) -> float:
    """Wait after failed attempt ``attempt``: base·2^(attempt-1), ±25 % jitter, ≤ an hour."""
    return min(MAX_RETRY_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)


async def refuse_private(url: str) -> None:
    """Raise unless every address ``url``'s host resolves to is public: a callback must not
    reach into the network Batchmill runs in (loopback, private, link-local, reserved)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):  # unresolvable, or not a hostname
        raise InvalidRequest(f"callback_url: host {host!r} does not resolve.") from None
    for *_, address in infos:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise InvalidRequest(
                f"callback_url: {host} resolves to {ip}, a loopback, private or link-local "
                "address; such callbacks are refused unless BATCHMILL_WEBHOOK_ALLOW_PRIVATE=1.")
