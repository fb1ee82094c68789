"""The official SDK, pointed at Batchmill with base_url, runs a batch end to end."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import summarise_requests, wait_until_ended


async def test_batch_round_trip_through_official_sdk(stack: Stack) -> None:
    client = stack.client()
    requests = summarise_requests(25)
    created = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert created.id.startswith("msgbatch_")
    assert created.type == "message_batch"
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 25
    assert created.results_url is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600

    stack.start_worker()
    batch = await wait_until_ended(client, created.id)
    assert batch.request_counts.succeeded == 25
    assert batch.request_counts.processing == batch.request_counts.errored == 0
    assert batch.ended_at is not None
    assert batch.results_url is not None

    results = [r async for r in await client.messages.batches.results(created.id)]
    assert [r.custom_id for r in results] == [r["custom_id"] for r in requests]
    for r in results:
        assert r.result.type == "succeeded"
        message = r.result.message
        assert message.role == "assistant" and message.content[0].type == "text"
        assert message.content[0].text
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

    async with stack.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT r.status, r.attempts, r.input_tokens, r.output_tokens, r.cost,"
            "       c.input_tokens AS call_input, c.output_tokens AS call_output, c.cost AS call_cost,"
            "       c.http_status, c.provider_request_id"
            " FROM requests r JOIN llm_calls c ON c.request_id = r.id"
            " WHERE r.batch_id = :b"), {"b": created.id})).mappings().all()
    assert len(rows) == 25  # one provider call per request
    for row in rows:
        assert row["status"] == "succeeded" and row["attempts"] == 1
        assert row["http_status"] == 200 and row["provider_request_id"].startswith("req_")
        assert row["input_tokens"] == row["call_input"] > 0
        assert row["output_tokens"] == row["call_output"] > 0
        # Haiku 4.5 lists at $1 / $5 per million input / output tokens.
        expected = (Decimal(row["input_tokens"]) * 1 + Decimal(row["output_tokens"]) * 5) / 1_000_000
        assert row["cost"] == row["call_cost"] == expected


async def test_unpriced_model_costs_null_not_zero(stack: Stack) -> None:
    client = stack.client()
    created = await client.messages.batches.create(
        requests=summarise_requests(2, model="claude-unreleased-9"))  # type: ignore[arg-type]
    stack.start_worker()
    batch = await wait_until_ended(client, created.id)
    assert batch.request_counts.succeeded == 2
    async with stack.engine.connect() as conn:
        costs = (await conn.execute(text(
            "SELECT cost FROM llm_calls WHERE batch_id = :b"), {"b": created.id})).scalars().all()
    assert costs == [None, None]

