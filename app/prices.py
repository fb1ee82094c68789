"""Model prices: USD per million tokens, dated, so every call is priced at the price in
effect when it started. Cache prices default to Anthropic's multipliers of the input price."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.sql import queries

CACHE_WRITE_5M = Decimal("1.25")
CACHE_WRITE_1H = Decimal("2")
CACHE_READ = Decimal("0.1")
BATCH_DISCOUNT = Decimal("0.5")


async def current_prices(conn: AsyncConnection, model: str | None = None) -> list[dict[str, Any]]:
    result = await conn.execute(queries["model_prices_current"], {"model": model})
    return [dict(row) for row in result.mappings()]


async def add_price(conn: AsyncConnection, *, model: str, input_per_mtok: Decimal,
                    output_per_mtok: Decimal, effective_from: dt.datetime,
                    cache_write_5m: Decimal | None = None, cache_write_1h: Decimal | None = None,
                    cache_read: Decimal | None = None,
                    batch_discount: Decimal = BATCH_DISCOUNT) -> None:
    await conn.execute(queries["model_price_add"], {
        "model": model, "effective_from": effective_from,
        "input": input_per_mtok, "output": output_per_mtok,
        "cache_write_5m": input_per_mtok * CACHE_WRITE_5M if cache_write_5m is None
        else cache_write_5m,
        "cache_write_1h": input_per_mtok * CACHE_WRITE_1H if cache_write_1h is None
        else cache_write_1h,
        "cache_read": input_per_mtok * CACHE_READ if cache_read is None else cache_read,
        "batch_discount": batch_discount})
