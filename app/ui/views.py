"""What each dashboard page shows, read from Postgres and shaped for its template.

Every read is scoped to the signed-in tenant: batches through ``app.batches`` (which 404s for
another tenant's id), the rest through the ``ui_*`` queries, which join ``batches`` on the
tenant as well. Cost figures come from ``app.reports`` (the same as ``GET /v1/reports/cost``)
and the ``cost_by_batch_v1`` view.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from app import batches, reports
from app.errors import InvalidRequest
from app.keys import Principal
from app.sql import queries
from app.ui import charts

PAGE_SIZE = 25
ERROR_EXAMPLES = 3
OUTPUTS_SHOWN = 5
OUTPUT_CHARS = 600
THROUGHPUT_MAX_BUCKETS = 60
BUCKET_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
RANGES = (("1d", "Last day"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
          ("90d", "Last 90 days"), ("365d", "Last year"))
DEFAULT_RANGE = "30d"
MAX_POLLED = 100


def progress(row: Mapping[str, Any]) -> dict[str, Any]:
    """A batch's live figures, as the list and detail pages show them and ``/ui/progress``
    sends them (the same keys, so one script updates both)."""
    total = row["request_count"]
    return {
        "id": row["id"],
        "processing_status": row["processing_status"],
        "request_count": total,
        "done": total - row["processing_count"],
        "processing": row["processing_count"],
        "succeeded": row["succeeded_count"],
        "errored": row["errored_count"],
        "canceled": row["canceled_count"],
        "expired": row["expired_count"],
        "percent": round(100 * (total - row["processing_count"]) / total) if total else 100,
        "cost": usd(row["cost"]),
    }


def usd(value: Decimal | float | None) -> str:
    """Dollars for people: cents once they matter, else enough digits to see fractions."""
    if value is None:
        return "unpriced"
    amount = Decimal(value)
    if amount == 0 or abs(amount) >= 100:
        return f"${amount:,.2f}"
    if abs(amount) >= Decimal("0.01"):
        return f"${amount:,.4f}"
    return f"${amount:.6f}"


@dataclass(frozen=True)
class BatchPage:
    rows: list[dict[str, Any]]
    has_more: bool
    after_id: str | None
    before_id: str | None


async def batch_page(conn: AsyncConnection, viewer: Principal, *, after_id: str | None,
                     before_id: str | None) -> BatchPage:
    """One page of the tenant's batches, newest first, with links to the pages around it."""
    rows, has_more = await batches.list_batches(conn, viewer.tenant_id, limit=PAGE_SIZE,
                                                after_id=after_id, before_id=before_id)
    shown = [{**progress(r), "created_at": r["created_at"], "mode": r["mode"]} for r in rows]
    older = shown[-1]["id"] if shown and (has_more or before_id is not None) else None
    newer = shown[0]["id"] if shown and (after_id is not None or
                                          (before_id is not None and has_more)) else None
    return BatchPage(shown, has_more, older, newer)


async def polled(conn: AsyncConnection, viewer: Principal, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Live figures of those of ``ids`` that are the tenant's (others are silently absent)."""
    result = await conn.execute(queries["ui_batches_progress"],
                                {"tenant_id": viewer.tenant_id, "ids": list(ids[:MAX_POLLED])})
    return [progress(row) for row in result.mappings()]


def bucket_seconds(span: dt.timedelta) -> int:
    """The smallest round bucket that draws ``span`` in at most THROUGHPUT_MAX_BUCKETS columns."""
    seconds = span.total_seconds()
    return next((b for b in BUCKET_SECONDS if seconds / b <= THROUGHPUT_MAX_BUCKETS),
                BUCKET_SECONDS[-1])


def _bucket_label(start: dt.datetime, bucket: int) -> str:
    return f"{start:%H:%M:%S}" if bucket < 60 else f"{start:%H:%M}" if bucket < 86400 \
        else f"{start:%Y-%m-%d}"


async def throughput(conn: AsyncConnection, viewer: Principal, batch: RowMapping,
                     now: dt.datetime) -> tuple[Markup, int, float]:
    """Requests finished per bucket since the batch was created (succeeded and errored,
    stacked): the chart, the bucket's seconds and the mean rate per second."""
    start: dt.datetime = batch["created_at"]
    stop: dt.datetime = batch["ended_at"] or now
    bucket = bucket_seconds(stop - start)
    rows = (await conn.execute(queries["ui_batch_throughput"], {
        "batch_id": batch["id"], "tenant_id": viewer.tenant_id, "bucket_seconds": bucket,
        "origin": start})).mappings().all()
    count = max(int((stop - start).total_seconds() // bucket) + 1,
                *(int((r["bucket"] - start).total_seconds() // bucket) + 1 for r in rows), 1)
    succeeded, errored = [0.0] * count, [0.0] * count
    for r in rows:
        i = int((r["bucket"] - start).total_seconds() // bucket)
        succeeded[i], errored[i] = float(r["succeeded"]), float(r["errored"])
    labels = [_bucket_label(start + dt.timedelta(seconds=bucket * i), bucket)
              for i in range(count)]
    chart = charts.column_chart(
        labels, [charts.Series("succeeded", "series-ok", succeeded),
                 charts.Series("errored", "series-error", errored)],
        title=f"Requests finished per {bucket} s", value_format=lambda v: f"{v:,.0f}",
        css_class="throughput-chart", min_step=1)
    elapsed = max((stop - start).total_seconds(), 1e-9)
    return chart, bucket, (sum(succeeded) + sum(errored)) / elapsed


async def batch_detail(conn: AsyncConnection, viewer: Principal, batch_id: str,
                       now: dt.datetime) -> dict[str, Any]:
    """Everything the detail page shows; NotFound (404) unless the batch is the tenant's."""
    batch = await batches.get_batch(conn, viewer.tenant_id, batch_id)
    scope = {"batch_id": batch_id, "tenant_id": viewer.tenant_id}
    chart, bucket, rate = await throughput(conn, viewer, batch, now)
    errors: dict[str, dict[str, Any]] = {}
    for r in (await conn.execute(queries["ui_batch_errors"],
                                 {**scope, "examples": ERROR_EXAMPLES})).mappings():
        group = errors.setdefault(r["error_type"], {"type": r["error_type"],
                                                    "requests": r["requests"], "examples": []})
        group["examples"].append({"custom_id": r["custom_id"], "message": r["message"]})
    outputs = (await conn.execute(queries["ui_batch_outputs"], {
        **scope, "limit": OUTPUTS_SHOWN, "max_chars": OUTPUT_CHARS})).mappings().all()
    usage = (await conn.execute(queries["ui_batch_usage"], scope)).mappings().first()
    return {"batch": batch, "live": progress(batch), "throughput_chart": chart,
            "bucket_seconds": bucket, "rate": rate, "errors": list(errors.values()),
            "outputs": outputs, "usage": usage}


async def cost_page(conn: AsyncConnection, viewer: Principal, *, since: str,
                    tenant: str | None, today: dt.date) -> dict[str, Any]:
    """Cost by day and by model since a day, for the tenant (an admin: every tenant, or
    ``tenant``). InvalidRequest (400) for a range ``reports.since_day`` does not read."""
    try:
        since_day = reports.since_day(since)
    except ValueError as exc:
        raise InvalidRequest(f"range: {exc}") from None
    scope: int | None = viewer.tenant_id
    tenants: list[str] = []
    if viewer.admin:
        tenants = list((await conn.execute(queries["ui_tenants"])).scalars())
        scope = None
        if tenant:
            scope = (await conn.execute(queries["tenant_by_name"], {"name": tenant})
                     ).scalar_one_or_none() or -1  # an unknown tenant: nothing to show
    by_day = await reports.cost_report(conn, by="day", since=since_day, tenant_id=scope)
    by_model = await reports.cost_report(conn, by="model", since=since_day, tenant_id=scope)
    spent = {row["key"]: float(row["cost"]) for row in by_day}
    days = [since_day + dt.timedelta(days=i) for i in range((today - since_day).days + 1)]
    label = "Every tenant" if viewer.admin and not tenant else tenant or viewer.tenant_name
    return {
        "since": since, "since_day": since_day, "tenant": tenant or "", "tenants": tenants,
        "scope_label": label, "ranges": RANGES,
        "by_day": by_day, "by_model": by_model,
        "total": usd(sum((r["cost"] for r in by_day), Decimal(0))),
        "calls": sum(r["calls"] for r in by_day),
        "unpriced": sum(r["unpriced_calls"] for r in by_day),
        "day_chart": charts.column_chart(
            [f"{d:%b %d}" for d in days],
            [charts.Series("cost", "series-0", [spent.get(d, 0.0) for d in days])],
            title="Cost by day (USD)", value_format=_chart_usd, css_class="cost-by-day"),
        "model_chart": charts.bar_chart(
            [(str(r["key"]), float(r["cost"])) for r in by_model],
            title="Cost by model (USD)", value_format=_chart_usd, css_class="cost-by-model"),
    }


def _chart_usd(value: float) -> str:
    """Dollars on a chart: no trailing zeros past the cents ($0.002, $0.50, $12.00)."""
    if abs(value) >= 100:
        return f"${value:,.0f}"
    whole, _, fraction = f"{value:,.6f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"
