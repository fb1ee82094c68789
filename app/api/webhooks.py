"""``/v1/webhooks/deliveries``: every webhook event of the caller's tenant and each attempt to
deliver it (when, how long, the receiver's HTTP status or the error)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from app.api.dependencies import Caller, Engine
from app.api.errors import documented_errors
from app.sql import queries


class DeliveryAttempt(msgspec.Struct):
    attempt: int
    started_at: dt.datetime
    latency_seconds: float
    response_status: int | None
    error: str | None


class WebhookDelivery(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(description="The event id (Batchmill-Event-Id header).")]
    batch_id: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    attempts: list[DeliveryAttempt]


class WebhookDeliveryPage(msgspec.Struct):
    data: list[WebhookDelivery]


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id, batch_id=row.batch_id, url=row.url, status=row.status,
        created_at=row.created_at, next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        attempts=[msgspec.convert(a, DeliveryAttempt, strict=False) for a in row.attempt_log])


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["Webhooks"]

    @get("/deliveries", summary="Webhook deliveries and their attempts, newest first",
         responses=documented_errors())
    async def deliveries(self, engine: Engine, principal: Caller,
                         batch_id: Annotated[str | None, Parameter(
                             max_length=100, description="only this batch's")] = None,
                         limit: Annotated[int, Parameter(ge=1, le=1000)] = 20
                         ) -> WebhookDeliveryPage:
        async with engine.connect() as conn:
            rows = await conn.execute(queries["webhook_deliveries_page"], {
                "tenant_id": principal.tenant_id, "batch_id": batch_id, "limit": limit})
            return WebhookDeliveryPage(data=[_delivery(row) for row in rows])
