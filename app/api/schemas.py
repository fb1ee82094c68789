"""Wire shapes, exactly as Anthropic's Message Batches API returns them."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import msgspec


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
    type: Literal["message_batch"] = "message_batch"


def message_batch(row: Mapping[str, Any], base_url: str) -> MessageBatch:
    """A ``batch_status_v1`` row as a MessageBatch; ``results_url`` is absolute once ended."""
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
    )
