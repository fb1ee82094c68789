"""Routing as data: "model": "auto" becomes a concrete model by task type and input length,
and the routed model is what is stored, called, priced and reported."""
from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import Stack
from tests.integration.helpers import wait_until_ended


def request(custom_id: str, content: str, task_type: str | None = None) -> dict[str, object]:
    item: dict[str, object] = {"custom_id": custom_id, "params": {
        "model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": content}]}}
    if task_type:
        item["task_type"] = task_type
    return item


async def test_auto_route_follows_the_seed_rules(stack: Stack) -> None:
    body = {"metadata": {"task_type": "analysis"}, "requests": [
        request("classify", "Is this spam?", "classification"),
        request("extract", "Invoice 42, total 9.99", "extraction"),
        request("summary", "A long memo", "summary"),
        request("short-analysis", "Compare Q1 and Q2."),           # batch default: analysis
        request("long-analysis", "numbers " * 1000),                # 8,000 characters
        request("unknown-task", "Write a poem", "poetry"),
        {"custom_id": "explicit", "params": {"model": "claude-3-haiku-20240307", "max_tokens": 20,
                                             "messages": [{"role": "user", "content": "hi"}]}},
    ]}
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        created = await http.post("/v1/messages/batches", json=body)
    assert created.status_code == 200, created.text
    stack.start_worker()
    await wait_until_ended(stack.client(), created.json()["id"])
    async with stack.engine.connect() as conn:
        routed = dict((await conn.execute(text(
            "SELECT r.custom_id, c.model FROM requests r JOIN llm_calls c ON c.request_id = r.id"
            " WHERE r.params ->> 'model' = r.model AND c.cost IS NOT NULL"))).all())
    assert routed == {
        "classify": "claude-haiku-4-5", "extract": "claude-haiku-4-5",
        "summary": "claude-haiku-4-5", "short-analysis": "claude-sonnet-4-5",
        "long-analysis": "claude-opus-4-5", "unknown-task": "claude-opus-4-5",
        "explicit": "claude-3-haiku-20240307",
    }


async def test_routing_rules_are_data(stack: Stack) -> None:
    async with stack.engine.begin() as conn:
        await conn.execute(text("INSERT INTO model_routes VALUES ('cheap', 1, NULL, NULL,"
                                " 'claude-3-haiku-20240307')"))
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        created = await http.post("/v1/messages/batches", json={"requests": [{
            "custom_id": "a", "params": {"model": "cheap", "max_tokens": 5,
                                         "messages": [{"role": "user", "content": "x"}]}}]})
    async with stack.engine.connect() as conn:
        model = (await conn.execute(text("SELECT model FROM requests WHERE batch_id = :b"),
                                    {"b": created.json()["id"]})).scalar_one()
    assert model == "claude-3-haiku-20240307"
