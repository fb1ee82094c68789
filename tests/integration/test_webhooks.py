"""Webhooks: one signed delivery per ended batch, retried with backoff until a 2xx, every
attempt recorded and visible through the API; private callback URLs refused by default."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, post
from litestar.response import Response
from sqlalchemy import text

from app import webhooks
from app.api.app import serve as serve_api
from app.serving import base_url, loopback_socket, serve_asgi
from app.sql import queries
from tests.conftest import Stack, _stop
from tests.integration.helpers import summarise_requests, wait_until_ended


@dataclass
class Receiver:
    """A webhook receiver on loopback that fails its first ``failures`` deliveries (HTTP 500,
    or a hang longer than the sender's timeout with ``hang``)."""

    url: str = ""
    failures: int = 0
    hang: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> Litestar:
        @post("/hook", status_code=200)
        async def hook(request: Request[Any, Any, Any]) -> Response[str]:
            body = await request.body()
            self.received.append((dict(request.headers), body))
            if len(self.received) <= self.failures:
                if self.hang:
                    await asyncio.sleep(self.hang)
                return Response("no", status_code=500)
            return Response("ok")

        return Litestar(route_handlers=[hook], logging_config=None, openapi_config=None)


async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    sock = loopback_socket()
    task = asyncio.create_task(serve_asgi(receiver.app(), sockets=[sock], handle_signals=False))
    receiver.url = base_url(sock) + "/hook"
    try:
        yield receiver
    finally:
        await _stop(task)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in receiving(Receiver()):
        yield r


async def secret_of(stack: Stack) -> str:
    async with stack.engine.begin() as conn:
        return (await conn.execute(queries["tenant_webhook_secret"],
                                   {"tenant": "tenant-a", "rotate": False})).scalar_one()


async def deliveries(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        response = await http.get("/v1/webhooks/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def settled(stack: Stack, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await deliveries(stack)
        if len(rows) >= count and all(r["status"] != "pending" for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.1)


async def test_one_verified_delivery_per_ended_batch(stack: Stack, receiver: Receiver) -> None:
    client = stack.client()
    ran = await client.messages.batches.create(requests=summarise_requests(20),  # type: ignore[arg-type]
                                               extra_body={"callback_url": receiver.url})
    invalid = [{"custom_id": "bad", "params": {"model": "claude-haiku-4-5"}}]  # ends at once
    refused = await client.messages.batches.create(requests=invalid,  # type: ignore[arg-type]
                                                   extra_body={"callback_url": receiver.url})
    silent = await client.messages.batches.create(requests=summarise_requests(5))  # type: ignore[arg-type]
    stack.start_worker()
    for batch in (ran, refused, silent):
        await wait_until_ended(client, batch.id)
    rows = await settled(stack, 2)
    await asyncio.sleep(0.5)  # nothing more arrives
    assert len(receiver.received) == 2 and len(rows) == 2
    secret = await secret_of(stack)
    bodies = {}
    for headers, body in receiver.received:
        assert webhooks.verify(secret, headers["batchmill-signature"], body)
        assert headers["content-type"] == "application/json"
        batch = json.loads(body)
        assert batch["type"] == "message_batch" and batch["processing_status"] == "ended"
        bodies[batch["id"]] = (headers["batchmill-event-id"], batch)
    assert set(bodies) == {ran.id, refused.id}
    assert bodies[ran.id][1]["request_counts"]["succeeded"] == 20
    assert bodies[refused.id][1]["request_counts"]["errored"] == 1
    assert {r["id"] for r in rows} == {event for event, _ in bodies.values()}
    assert all(r["status"] == "delivered" and len(r["attempts"]) == 1 for r in rows)
    assert [r["batch_id"] for r in await deliveries(stack, batch_id=ran.id)] == [ran.id]


async def test_failing_receiver_gets_retries_all_recorded(stack: Stack) -> None:
    async for receiver in receiving(Receiver(failures=2)):
        client = stack.client()
        batch = await client.messages.batches.create(  # type: ignore[arg-type]
            requests=summarise_requests(3), extra_body={"callback_url": receiver.url})
        stack.start_worker()
        await wait_until_ended(client, batch.id)
        (row,) = await settled(stack, 1)
        assert row["status"] == "delivered" and row["delivered_at"]
        assert [a["response_status"] for a in row["attempts"]] == [500, 500, 200]
        assert [a["attempt"] for a in row["attempts"]] == [1, 2, 3]
        assert all(a["latency_seconds"] > 0 and a["error"] is None for a in row["attempts"])
        starts = [a["started_at"] for a in row["attempts"]]
        assert starts == sorted(starts)
        assert len(receiver.received) == 3
        bodies = {body for _, body in receiver.received}
        assert len(bodies) == 1  # every retry sends the same body, with a fresh signature
        assert len({headers["batchmill-event-id"] for headers, _ in receiver.received}) == 1


async def test_a_timeout_is_a_failed_attempt(stack: Stack) -> None:
    stack.settings = dataclasses.replace(stack.settings, webhooks=dataclasses.replace(
        stack.settings.webhooks, timeout_seconds=0.3))
    async for receiver in receiving(Receiver(failures=1, hang=2.0)):
        client = stack.client()
        batch = await client.messages.batches.create(  # type: ignore[arg-type]
            requests=summarise_requests(2), extra_body={"callback_url": receiver.url})
        stack.start_worker()
        await wait_until_ended(client, batch.id)
        (row,) = await settled(stack, 1)
        first, second = row["attempts"]
        assert first["response_status"] is None and "Timeout" in first["error"]
        assert second["response_status"] == 200 and row["status"] == "delivered"


def test_a_bad_signature_is_detected() -> None:
    body = b'{"id": "msgbatch_1", "type": "message_batch"}'
    now = int(time.time())
    header = webhooks.sign("whsec_right", now, body)
    assert webhooks.verify("whsec_right", header, body)
    assert not webhooks.verify("whsec_right", header, body.replace(b"1", b"2"))  # tampered
    assert not webhooks.verify("whsec_wrong", header, body)
    assert not webhooks.verify("whsec_right", header.replace(str(now), str(now - 1)), body)
    assert not webhooks.verify("whsec_right", webhooks.sign("whsec_right", now - 3600, body),
                               body)  # a replay from an hour ago
    assert not webhooks.verify("whsec_right", "v1=deadbeef", body)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook",
                                 "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/hook", "http://localhost/hook"])
async def test_private_callback_refused_by_default(stack: Stack, url: str) -> None:
    settings = dataclasses.replace(stack.settings, webhooks=dataclasses.replace(
        stack.settings.webhooks, allow_private=False))
    sock = loopback_socket()
    api = asyncio.create_task(serve_api(settings, engine=stack.engine, sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=base_url(sock),
                                     headers={"x-api-key": stack.api_key}) as http:
            response = await http.post("/v1/messages/batches", json={
                "requests": summarise_requests(1), "callback_url": url})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "callback_url" in error["message"] and "BATCHMILL_WEBHOOK_ALLOW_PRIVATE" in error["message"]
    finally:
        await _stop(api)
    async with stack.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM batches"))).scalar_one() == 0


def test_the_readme_verification_snippet_works() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code = readme.split("To verify a delivery:\n\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the documented receiver-side check, as printed
    verify = namespace["verify"]
    body = b'{"id": "msgbatch_1"}'
    header = webhooks.sign("whsec_s", int(time.time()), body)
    assert verify("whsec_s", header, body)
    assert not verify("whsec_s", header, body + b" ")
    assert not verify("whsec_other", header, body)
