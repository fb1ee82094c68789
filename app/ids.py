"""Sortable identifiers: a ULID (48-bit millisecond time + 80 random bits, Crockford base32).

Batch ids sort by creation time, so "newest first" pagination is an index scan on the id.
"""
from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def batch_id() -> str:
    return f"msgbatch_{ulid()}"
