"""Cost truth: every call priced exactly (decimals, not floats) from the price in effect, and
the reporting views add up to llm_calls."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.reports import DIMENSIONS, cost_report, render
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests, wait_until_ended

# model: (input, output) USD per million tokens, as published.
PRICES = {
    "claude-opus-4-6": ("5", "25"), "claude-opus-4-5-20251101": ("5", "25"),
    "claude-opus-4-1": ("15", "75"), "claude-opus-4-20250514": ("15", "75"),
    "claude-sonnet-4-6": ("3", "15"), "claude-sonnet-4-5": ("3", "15"),
    "claude-sonnet-4-20250514": ("3", "15"), "claude-haiku-4-5": ("1", "5"),
    "claude-3-5-haiku-20241022": ("0.80", "4"), "claude-3-haiku-20240307": ("0.25", "1.25"),
}
USAGE = (1_234_567, 89_012, 30_000, 40_000, 500_000)  # input, output, 5m write, 1h write, read


def by_hand(model: str, via_batch: bool) -> Decimal:
    i, o = (Decimal(p) for p in PRICES[model])
    inp, out, w5, w1, rd = (Decimal(n) for n in USAGE)
    total = (inp * i + out * o + w5 * i * Decimal("1.25") + w1 * i * 2 + rd * i / 10) / 10**6
    return total / 2 if via_batch else total


@pytest.mark.parametrize("via_batch", [False, True])
@pytest.mark.parametrize("model", sorted(PRICES))
async def test_call_cost_matches_hand_computed_to_the_last_decimal(
        engine: AsyncEngine, model: str, via_batch: bool) -> None:
    async with engine.connect() as conn:
        cost = (await conn.execute(text(
            "SELECT batchmill_call_cost_v1(:m, now(), :i, :o, :w5, :w1, :r, :b)"),
            {"m": model, "i": USAGE[0], "o": USAGE[1], "w5": USAGE[2], "w1": USAGE[3],
             "r": USAGE[4], "b": via_batch})).scalar_one()
    assert cost == by_hand(model, via_batch)


async def test_price_in_effect_at_call_time(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO model_prices (model, effective_from, input_per_mtok, output_per_mtok,"
            " cache_write_5m_per_mtok, cache_write_1h_per_mtok, cache_read_per_mtok)"
            " VALUES ('claude-haiku-4-5', '2030-01-01', 2, 10, 2.5, 4, 0.2)"))
        before, after = (await conn.execute(text(
            "SELECT batchmill_call_cost_v1('claude-haiku-4-5', '2029-12-31', 1000000, 0, 0, 0, 0,"
            " false), batchmill_call_cost_v1('claude-haiku-4-5', '2030-01-02', 1000000, 0, 0,"
            " 0, 0, false)"))).one()
    assert (before, after) == (Decimal(1), Decimal(2))


async def test_reports_add_up_to_llm_calls(stack: Stack) -> None:
    client = stack.client()
    batches = [await client.messages.batches.create(requests=summarise_requests(  # type: ignore[arg-type]
        n, model=model)) for n, model in ((12, "claude-haiku-4-5"), (7, "claude-sonnet-4-5"),
                                          (3, "claude-unpriced-1"))]
    stack.start_worker()
    for batch in batches:
        await wait_until_ended(client, batch.id)
    async with stack.engine.connect() as conn:
        truth = (await conn.execute(text(
            "SELECT count(*), sum(cost), sum(input_tokens), count(*) FILTER (WHERE cost IS NULL)"
            " FROM llm_calls"))).one()
        today = dt.datetime.now(dt.UTC).date()
        for by in DIMENSIONS:
            rows = await cost_report(conn, by=by, since=today - dt.timedelta(days=1))
            assert sum(r["calls"] for r in rows) == truth[0] == 22
            assert sum(r["cost"] for r in rows) == truth[1] > 0
            assert sum(r["input_tokens"] for r in rows) == truth[2]
            assert sum(r["unpriced_calls"] for r in rows) == truth[3] == 3
            table = render(rows, by=by, fmt="table")
            assert f"{truth[1]:,.4f}" in table.splitlines()[-1]
        by_model = {r["key"]: r for r in await cost_report(conn, by="model", since=today)}
        for view in ("cost_daily_v1", "cost_by_batch_v1", "cost_by_tenant_month_v1"):
            totals = (await conn.execute(text(
                f"SELECT sum(calls), sum(cost), sum(unpriced_calls) FROM {view}"))).one()
            assert tuple(totals) == (truth[0], truth[1], truth[3]), view
        so_far = dict((await conn.execute(text(
            "SELECT s.id, s.cost = coalesce(sum(c.cost), 0) FROM batch_status_v2 s"
            " JOIN llm_calls c ON c.batch_id = s.id GROUP BY s.id, s.cost"))).all())
    assert so_far == {b.id: True for b in batches}  # cost so far on every batch's status
    assert by_model["claude-unpriced-1"]["cost"] == 0
    assert by_model["claude-unpriced-1"]["unpriced_calls"] == 3
    assert render([by_model["claude-haiku-4-5"]], by="model", fmt="csv").splitlines()[0] == (
        "model,calls,input_tokens,output_tokens,cache_write_tokens,cache_read_tokens,cost,"
        "unpriced_calls")
