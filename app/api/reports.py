"""``/v1/reports/cost``: spend from the cost views, for the caller's tenant (an admin key sees
every tenant, or one with ``?tenant=``)."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from app import reports
from app.api.dependencies import Caller, Engine
from app.api.errors import documented_errors
from app.errors import InvalidRequest, PermissionDenied
from app.keys import Principal
from app.sql import queries


class CostRow(msgspec.Struct):
    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost: Annotated[str, msgspec.Meta(description="USD, exact decimal")]
    unpriced_calls: int


class CostReport(msgspec.Struct):
    by: str
    since: str
    data: list[CostRow]
    total_cost: str


def _tenant_scope(principal: Principal, tenant: str | None) -> int | None | str:
    if tenant is None:
        return None if principal.admin else principal.tenant_id
    if not principal.admin and tenant != principal.tenant_name:
        raise PermissionDenied("Only an admin key may read another tenant's costs.")
    return tenant


class ReportsController(Controller):
    path = "/v1/reports"
    tags = ["Reports"]

    @get("/cost", summary="Spend by day, model, tenant, batch or mode (realtime or "
         "provider_batch)", responses=documented_errors(403))
    async def cost(self, engine: Engine, principal: Caller,
                   since: Annotated[str, Parameter(
                       pattern=r"^\s*[0-9]+[dwh]\s*$", max_length=20,
                       description="7d, 2w or 48h")] = "7d",
                   by: Annotated[Literal["day", "model", "tenant", "batch", "mode"],
                                 Parameter(description="how to group")] = "day",
                   tenant: Annotated[str | None, Parameter(
                       max_length=200, description="admin keys: one tenant")] = None
                   ) -> CostReport:
        try:
            since_day = reports.since_day(since)
        except ValueError as exc:
            raise InvalidRequest(f"since: {exc}") from None
        except OverflowError:  # a number of days no date can go back
            raise InvalidRequest(f"since: {since!r} reaches back too far.") from None
        scope = _tenant_scope(principal, tenant)
        async with engine.connect() as conn:
            if isinstance(scope, str):  # an admin naming a tenant
                scope = (await conn.execute(queries["tenant_by_name"], {"name": scope})
                         ).scalar_one_or_none() or -1  # unknown tenant: an empty report
            rows = await reports.cost_report(conn, by=by, since=since_day, tenant_id=scope)
        data = [CostRow(key=str(r["key"]), calls=r["calls"], input_tokens=r["input_tokens"],
                        output_tokens=r["output_tokens"],
                        cache_write_tokens=r["cache_write_tokens"],
                        cache_read_tokens=r["cache_read_tokens"], cost=str(r["cost"]),
                        unpriced_calls=r["unpriced_calls"]) for r in rows]
        total = sum((r["cost"] for r in rows), Decimal(0))
        return CostReport(by=by, since=since_day.isoformat(), data=data, total_cost=str(total))
