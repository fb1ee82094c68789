"""The Claude adapter: one Messages call through the official SDK, as a ``CallOutcome``.

The SDK's own retries are off (``max_retries=0``): durability lives in the queue, which
reschedules a retry instead of holding a worker slot while it waits.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import anthropic
import msgspec

from app.llm.errors import classify
from app.llm.outcome import CallOutcome, Usage

REQUIRED_PARAMS = ("model", "max_tokens", "messages")


def _rate_limit_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("anthropic-ratelimit-")}


def create_client(*, api_key: str, base_url: str | None, timeout_seconds: float) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_seconds
    )


async def call_messages(client: anthropic.AsyncAnthropic, params: dict[str, Any]) -> CallOutcome:
    """POST /v1/messages with ``params`` exactly as the caller wrote them."""
    required = {name: params[name] for name in REQUIRED_PARAMS}
    extra = {k: v for k, v in params.items() if k not in REQUIRED_PARAMS}
    model = str(params["model"])
    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    try:
        raw = await client.messages.with_raw_response.create(**required, extra_body=extra)
        body = msgspec.json.decode(await raw.read())
    except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
        error = classify(exc)
        response = getattr(exc, "response", None)
        return CallOutcome(
            model=model,
            started_at=started_at,
            latency_seconds=time.perf_counter() - clock,
            http_status=getattr(exc, "status_code", None),
            provider_request_id=getattr(exc, "request_id", None)
            or (response.headers.get("request-id") if response is not None else None),
            error=error,
            rate_limit_headers=_rate_limit_headers(response.headers if response is not None
                                                   else None),
        )
    return CallOutcome(
        model=str(body.get("model") or model),
        started_at=started_at,
        latency_seconds=time.perf_counter() - clock,
        http_status=raw.status_code,
        provider_request_id=raw.request_id or raw.headers.get("request-id"),
        message=body,
        usage=Usage.from_message(body.get("usage")),
        rate_limit_headers=_rate_limit_headers(raw.headers),
    )
