"""Wire shapes of the Message Batches API, as Anthropic's (plus Batchmill's documented
extensions), as msgspec Structs: the API decodes into them and the OpenAPI schema is made
from them."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MAX_REQUESTS = 100_000
MIN_PRIORITY, MAX_PRIORITY = -100, 100
MAX_URL_LENGTH = 2048

Priority = Annotated[int, msgspec.Meta(
    ge=MIN_PRIORITY, le=MAX_PRIORITY,
    description="Batchmill extension: higher runs first (default 0).")]


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One request of a batch: a Messages API body under a caller-chosen id."""

    custom_id: Annotated[str, msgspec.Meta(
        pattern=CUSTOM_ID_PATTERN, description="Unique within the batch; names the result.")]
    # Kept as the raw JSON it arrived as: stored as is, never decoded into Python objects and
    # encoded again, so a 256 MB batch costs little more than its bytes.
    params: Annotated[msgspec.Raw, msgspec.Meta(
        description="Messages API parameters (model, max_tokens, messages, ...). Problems in "
                    "them are reported as an errored result, as Anthropic does.",
        extra_json_schema={"type": "object"})]
    priority: Priority | None = None
    task_type: Annotated[str, msgspec.Meta(
        max_length=64, description="Batchmill extension: what the request does "
        "(classification, extraction, summary, analysis, ...), for model routing.")] | None = None


class BatchCreate(msgspec.Struct, forbid_unknown_fields=True):
    requests: Annotated[list[BatchRequest], msgspec.Meta(min_length=1, max_length=MAX_REQUESTS)]
    priority: Priority = 0
    metadata: Annotated[dict[str, Any] | None, msgspec.Meta(
        description="Batchmill extension: free-form JSON kept with the batch (≤ 16 KiB).")] = None
    mode: Annotated[Literal["realtime", "provider_batch", "auto"], msgspec.Meta(
        description="Batchmill extension: how requests reach Claude. realtime: one Messages "
                    "call each, as fast as the rate limit allows; provider_batch: through "
                    "Anthropic's Message Batches API, at its batch discount (50 %), within "
                    "24 hours; auto: provider_batch when completion_window allows 24 hours "
                    "and the batch has at least 100 requests, else realtime.")] = "realtime"
    completion_window: Annotated[str, msgspec.Meta(
        pattern=r"^[1-9][0-9]{0,4}[mhd]$",
        description="Batchmill extension: how long the caller can wait for the batch to end "
                    "(30m, 6h, 24h, 2d); read by mode auto.")] | None = None
    auto_cache: Annotated[bool, msgspec.Meta(
        description="Batchmill extension: mark a system prompt shared by the batch's "
                    "requests for prompt caching (default true).")] = True
    callback_url: Annotated[str, msgspec.Meta(
        max_length=MAX_URL_LENGTH, pattern=r"^https?://",
        description="Batchmill extension: called when the batch ends.")] | None = None


class RequestCounts(msgspec.Struct):
    """Batchmill reports live counts while a batch runs (Anthropic keeps them at 0 until the
    batch ends)."""

    processing: int
    succeeded: int
    errored: int
    canceled: int
    expired: int


class MessageBatch(msgspec.Struct):
    id: str
    processing_status: Literal["in_progress", "canceling", "ended"]
    request_counts: RequestCounts
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    cancel_initiated_at: dt.datetime | None
    archived_at: dt.datetime | None
    results_url: str | None
    mode: Annotated[Literal["realtime", "provider_batch"], msgspec.Meta(
        description="Batchmill extension: how the requests reach Claude (for mode auto, the "
                    "mode Batchmill chose).")] = "realtime"
    cost_usd: Annotated[str, msgspec.Meta(
        description="Batchmill extension: USD spent on the batch's provider calls so far, "
                    "as a decimal string.")] = "0"
    type: Literal["message_batch"] = "message_batch"


class MessageBatchPage(msgspec.Struct):
    data: list[MessageBatch]
    has_more: bool
    first_id: str | None
    last_id: str | None


class DeletedMessageBatch(msgspec.Struct):
    id: str
    type: Literal["message_batch_deleted"] = "message_batch_deleted"


def message_batch(row: Mapping[str, Any], base_url: str) -> MessageBatch:
    """A ``batch_status_v2`` row as a MessageBatch; ``results_url`` is absolute once ended."""
    ended = row["processing_status"] == "ended"
    return MessageBatch(
        id=row["id"],
        processing_status=row["processing_status"],
        request_counts=RequestCounts(
            processing=row["processing_count"],
            succeeded=row["succeeded_count"],
            errored=row["errored_count"],
            canceled=row["canceled_count"],
            expired=row["expired_count"],
        ),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        ended_at=row["ended_at"],
        cancel_initiated_at=row["cancel_initiated_at"],
        archived_at=row["archived_at"],
        results_url=(
            f"{base_url.rstrip('/')}/v1/messages/batches/{row['id']}/results" if ended else None
        ),
        mode=row["mode"],
        cost_usd=format(row["cost"].normalize(), "f"),
    )


class ErrorDetail(msgspec.Struct):
    type: Literal["invalid_request_error", "authentication_error", "permission_error",
                  "not_found_error", "request_too_large", "rate_limit_error", "api_error",
                  "overloaded_error"]
    message: str


class ErrorResponse(msgspec.Struct):
    """Every error, everywhere: Anthropic's shape."""

    error: ErrorDetail
    type: Literal["error"] = "error"


class SucceededResult(msgspec.Struct, tag="succeeded", tag_field="type"):
    message: dict[str, Any]


class ErroredResult(msgspec.Struct, tag="errored", tag_field="type"):
    error: ErrorResponse


class CanceledResult(msgspec.Struct, tag="canceled", tag_field="type"):
    pass


class ExpiredResult(msgspec.Struct, tag="expired", tag_field="type"):
    pass


class BatchResult(msgspec.Struct):
    """One line of the results JSONL."""

    custom_id: str
    result: SucceededResult | ErroredResult | CanceledResult | ExpiredResult
