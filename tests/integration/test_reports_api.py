"""GET /v1/reports/cost: a tenant sees its own spend only; an admin key sees every tenant."""
from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx
from sqlalchemy import text

from app.keys import create_key
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests, wait_until_ended


async def test_cost_report_is_tenant_scoped(stack: Stack) -> None:
    async with stack.engine.begin() as conn:
        other = await create_key(conn, "tenant-b")
        admin = await create_key(conn, "ops", admin=True)
    mine = await stack.client().messages.batches.create(
        requests=summarise_requests(5))  # type: ignore[arg-type]
    theirs = await anthropic.AsyncAnthropic(base_url=stack.api_url, api_key=other).messages \
        .batches.create(requests=summarise_requests(3))  # type: ignore[arg-type]
    stack.start_worker()
    await wait_until_ended(stack.client(), mine.id)
    await wait_until_ended(stack.client().with_options(api_key=other), theirs.id)
    async with stack.engine.connect() as conn:
        truth = dict((await conn.execute(text(
            "SELECT t.name, sum(c.cost) FROM llm_calls c JOIN tenants t ON t.id = c.tenant_id"
            " GROUP BY t.name"))).all())

    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        async def report(key: str, **params: str) -> httpx.Response:
            return await http.get("/v1/reports/cost", params=params, headers={"x-api-key": key})

        own = (await report(stack.api_key, by="batch")).json()
        assert [row["key"] for row in own["data"]] == [mine.id]
        assert Decimal(own["total_cost"]) == truth["tenant-a"]
        assert Decimal((await report(other, by="tenant")).json()["total_cost"]) == truth["tenant-b"]
        every = (await report(admin, by="tenant")).json()
        assert {row["key"]: Decimal(row["cost"]) for row in every["data"]} == truth
        one = (await report(admin, by="tenant", tenant="tenant-b")).json()
        assert [row["key"] for row in one["data"]] == ["tenant-b"]
        denied = await report(stack.api_key, tenant="tenant-b")
        assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
        bad = await report(stack.api_key, since="forever")
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        assert (await http.get("/v1/reports/cost")).status_code == 401
