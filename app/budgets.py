"""Monthly budgets per tenant, held under concurrency.

A submission whose worst case (every estimated input token and every ``max_tokens`` output
token at today's prices) exceeds what is left of the month is refused. Each call reserves its
own worst case before it goes out and settles to the real cost in the transaction that
records it, so concurrent workers can never commit more than the budget: spent + reserved
stays within it, whatever runs at once.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import InvalidRequest
from app.llm.rate_limiter import Need
from app.sql import queries


@dataclass(frozen=True)
class Reservation:
    tenant_id: int
    month: dt.date
    worst: Decimal


def exhausted(model: str) -> dict[str, Any]:
    """The error an over-budget request ends with (Anthropic's ``billing_error`` type)."""
    return {"type": "error", "error": {
        "type": "billing_error",
        "message": f"This month's budget cannot cover a {model} call of this size; "
                   "the request was not sent."}}


async def check_submission(conn: AsyncConnection, tenant_id: int,
                           needs: Iterable[tuple[str, Need]]) -> None:
    """Refuse a batch whose worst-case cost exceeds the tenant's budget left this month."""
    budget = (await conn.execute(queries["budget_remaining"], {"tenant_id": tenant_id})).one()
    if budget.budget is None:
        return
    models, inputs, outputs = [], [], []
    for model, need in needs:
        models.append(model)
        inputs.append(need.input_tokens)
        outputs.append(need.output_tokens)
    worst = (await conn.execute(queries["worst_case_cost"], {
        "models": models, "input_tokens": inputs, "output_tokens": outputs})).scalar_one()
    if worst > budget.remaining:
        raise InvalidRequest(
            f"This batch could cost up to ${worst:,.4f} (every request using max_tokens), "
            f"more than the ${max(budget.remaining, Decimal(0)):,.4f} left of this month's "
            f"${budget.budget:,.2f} budget. Lower max_tokens, split the batch or raise the "
            "budget.")


async def reserve(conn: AsyncConnection, tenant_id: int, model: str,
                  need: Need) -> Reservation | None:
    """Reserve one call's worst case; None when it does not fit in the budget."""
    await conn.execute(queries["tenant_spend_ensure"], {"tenant_id": tenant_id})
    row = (await conn.execute(queries["budget_reserve"], {
        "tenant_id": tenant_id, "model": model, "input_tokens": need.input_tokens,
        "output_tokens": need.output_tokens})).first()
    return Reservation(tenant_id, row.month, row.worst) if row else None


async def settle(conn: AsyncConnection, reservation: Reservation, cost: Decimal | None) -> None:
    """Release the reservation and count the real cost (unknown cost counts nothing)."""
    await conn.execute(queries["budget_settle"], {
        "tenant_id": reservation.tenant_id, "month": reservation.month,
        "worst": reservation.worst, "cost": cost or Decimal(0)})
