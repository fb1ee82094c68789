"""Automatic prompt caching: when requests of a batch share a system prompt at least as long
as the model's minimum cacheable length, mark it with ``cache_control`` so every call after
the first reads it from the provider's cache (0.1x the input price) instead of paying for it
again. Requests that already use ``cache_control`` are left exactly as the caller wrote them.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from app.llm.models import min_cacheable_tokens
from app.llm.rate_limiter import CHARS_PER_TOKEN

EPHEMERAL = {"type": "ephemeral"}


def _system_text(system: Any) -> str | None:
    if isinstance(system, str):
        return system
    if isinstance(system, list) and all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            for b in system) and system:
        return "".join(b["text"] for b in system)
    return None


def _key(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\0{text}".encode()).digest()


def mark_shared_system_prompts(params: Sequence[msgspec.Raw | None]) -> list[bytes | None]:
    """For each request's raw params (None: not sent), the params with a ``cache_control``
    breakpoint on a shared, long enough system prompt, or None to keep them as they are."""
    decoded: list[dict[str, Any] | None] = []
    for raw in params:
        if raw is None or b"cache_control" in bytes(raw) or b'"system"' not in bytes(raw):
            decoded.append(None)
            continue
        body = msgspec.json.decode(raw)
        decoded.append(body if isinstance(body, dict) else None)
    keys: list[bytes | None] = []
    for body in decoded:
        text = _system_text(body.get("system")) if body else None
        model = body.get("model") if body else None
        eligible = (text is not None and isinstance(model, str)
                    and math.ceil(len(text) / CHARS_PER_TOKEN) >= min_cacheable_tokens(model))
        keys.append(_key(model, text) if eligible else None)  # type: ignore[arg-type]
    shared = Counter(k for k in keys if k is not None)
    marked: list[bytes | None] = []
    for body, key in zip(decoded, keys, strict=True):
        if body is None or key is None or shared[key] < 2:
            marked.append(None)
            continue
        system = body["system"]
        if isinstance(system, str):
            body["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        else:
            body["system"] = [*system[:-1], {**system[-1], "cache_control": EPHEMERAL}]
        marked.append(msgspec.json.encode(body))
    return marked
