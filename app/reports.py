"""Cost reports for people, over the versioned cost views: a readable table, CSV or JSON."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from app.sql import queries

DIMENSIONS = ("day", "model", "tenant", "batch", "mode")
FORMATS = ("table", "csv", "json")
COLUMNS = ("calls", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
           "cost", "unpriced_calls")
_SINCE = re.compile(r"^(\d+)([dwh])$")


def since_day(since: str, today: dt.date | None = None) -> dt.date:
    """``7d``, ``2w`` or ``48h`` before today (UTC), as the first day to include."""
    match = _SINCE.match(since.strip())
    if not match:
        raise ValueError(f"--since takes a number and d, w or h (like 7d), not {since!r}")
    amount, unit = int(match[1]), match[2]
    delta = {"d": dt.timedelta(days=amount), "w": dt.timedelta(weeks=amount),
             "h": dt.timedelta(hours=amount)}[unit]
    now = dt.datetime.now(dt.UTC)
    start = (dt.datetime.combine(today, dt.time(), dt.UTC) if today else now) - delta
    return start.date()


async def cost_report(conn: AsyncConnection, *, by: str, since: dt.date,
                      tenant_id: int | None = None) -> list[dict[str, Any]]:
    """Spend grouped ``by`` a dimension since a day: one tenant's, or all with None."""
    if by not in DIMENSIONS:
        raise ValueError(f"--by is one of {', '.join(DIMENSIONS)}")
    result = await conn.execute(queries[f"report_cost_by_{by}"],
                                {"since_day": since, "tenant_id": tenant_id})
    return [dict(row) for row in result.mappings()]


def render(rows: Sequence[dict[str, Any]], *, by: str, fmt: str) -> str:
    if fmt == "json":
        return msgspec.json.encode(
            [{by: r["key"], **{c: r[c] for c in COLUMNS}} for r in rows],
            enc_hook=lambda v: str(v) if isinstance(v, Decimal) else v).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((by, *COLUMNS))
        writer.writerows((r["key"], *(r[c] for c in COLUMNS)) for r in rows)
        return out.getvalue().rstrip("\n")
    header = (by.upper(), "CALLS", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "COST (USD)")
    lines = [header]
    for r in rows:
        unpriced = f" (+{r['unpriced_calls']} unpriced)" if r["unpriced_calls"] else ""
        lines.append((str(r["key"]), f"{r['calls']:,}", f"{r['input_tokens']:,}",
                      f"{r['output_tokens']:,}", f"{r['cache_write_tokens']:,}",
                      f"{r['cache_read_tokens']:,}", f"{r['cost']:,.4f}{unpriced}"))
    total_cost = sum((r["cost"] for r in rows), Decimal(0))
    lines.append(("TOTAL", f"{sum(r['calls'] for r in rows):,}", "", "", "", "",
                  f"{total_cost:,.4f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)
