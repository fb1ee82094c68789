"""Bad input gets Anthropic's error shape and the right status, and stores nothing."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.api.app import serve as serve_api
from app.keys import revoke_key
from app.serving import base_url, loopback_socket
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests

BATCHES = "/v1/messages/batches"
NOTHING_STORED = text(
    "SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM requests)"
    " + (SELECT count(*) FROM procrastinate_jobs)")


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as client:
        yield client


def assert_error(response: httpx.Response, status: int, error_type: str,
                 fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and set(body) == {"type", "error"}
    assert body["error"]["type"] == error_type
    assert fragment in body["error"]["message"]
    assert response.headers["request-id"].startswith("req_")


async def assert_nothing_stored(stack: Stack) -> None:
    async with stack.engine.connect() as conn:
        assert (await conn.execute(NOTHING_STORED)).scalar_one() == 0


def body(**changes: Any) -> dict[str, Any]:
    return {"requests": summarise_requests(2), **changes}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "malformed"),
        (b"\xff\xfe\x00garbage", "malformed"),
        (b"", "body"),
        (b'{"requests": "all of them"}', "requests: Expected `array`"),
        (b'{"requests": []}', "requests: Expected `array` of length >= 1"),
        (b'{"requests": [{"custom_id": "a b", "params": {}}]}', "requests.0.custom_id"),
        (b'{"requests": [{"custom_id": "a", "params": {}}], "colour": "red"}', "colour"),
        (b'{"requests": [{"custom_id": "a", "params": {}, "retries": 3}]}', "retries"),
        (b'{"requests": [{"custom_id": "a", "params": "hi"}]}', "requests.0.params"),
    ],
)
async def test_malformed_submissions(stack: Stack, http: httpx.AsyncClient, payload: bytes,
                                     fragment: str) -> None:
    response = await http.post(BATCHES, content=payload,
                                headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error", fragment)
    await assert_nothing_stored(stack)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"priority": 10**12}, "priority"),
        ({"priority": -101}, "priority"),
        ({"metadata": {"blob": "x" * 20_000}}, "metadata: must be at most"),
        ({"metadata": "not an object"}, "metadata"),
        ({"callback_url": "file:///etc/passwd"}, "callback_url"),
        ({"callback_url": "https://" + "x" * 3000}, "callback_url"),
        ({"mode": "yesterday"}, "mode"),
    ],
)
async def test_bad_extensions(stack: Stack, http: httpx.AsyncClient, changes: dict[str, Any],
                              fragment: str) -> None:
    assert_error(await http.post(BATCHES, json=body(**changes)), 400,
                 "invalid_request_error", fragment)
    await assert_nothing_stored(stack)


async def test_duplicate_custom_id_names_the_index(stack: Stack, http: httpx.AsyncClient) -> None:
    requests = summarise_requests(5)
    requests[3]["custom_id"] = requests[1]["custom_id"]
    assert_error(await http.post(BATCHES, json={"requests": requests}), 400,
                 "invalid_request_error", "requests.3.custom_id: duplicate")
    await assert_nothing_stored(stack)


async def test_too_many_requests(stack: Stack, http: httpx.AsyncClient) -> None:
    tiny = {"custom_id": "x", "params": {}}
    requests = [dict(tiny, custom_id=f"r{i}") for i in range(100_001)]
    assert_error(await http.post(BATCHES, json={"requests": requests}), 400,
                 "invalid_request_error", "length <= 100000")
    await assert_nothing_stored(stack)


async def test_body_over_the_limit_is_refused_while_streaming(stack: Stack) -> None:
    settings = dataclasses.replace(stack.settings, max_body_bytes=64 * 1024)
    sock = loopback_socket()
    server = asyncio.create_task(serve_api(settings, engine=stack.engine, sockets=[sock]))
    await asyncio.sleep(0.05)

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: chunked upload
        yield b'{"requests": ['
        for i in range(10_000):  # ~1 MB, sixteen times the limit
            yield b'{"custom_id": "r%d", "params": {"padding": "%s"}},' % (i, b"x" * 80)
        yield b'{"custom_id": "last", "params": {}}]}'

    try:
        async with httpx.AsyncClient(base_url=base_url(sock)) as client:
            try:
                response = await client.post(BATCHES, content=chunks(), headers={
                    "x-api-key": stack.api_key, "content-type": "application/json"})
            except httpx.TransportError:
                pytest.fail("the server should answer 413, not drop the connection")
            assert_error(response, 413, "request_too_large")
            declared = await client.post(BATCHES, content=b"{" + b" " * 70_000 + b"}",
                                         headers={"x-api-key": stack.api_key,
                                                  "content-type": "application/json"})
            assert_error(declared, 413, "request_too_large")
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    await assert_nothing_stored(stack)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [({}, "x-api-key header is required"),
     ({"x-api-key": "bm-not-a-key"}, "invalid x-api-key"),
     ({"authorization": "Bearer bm-not-a-key"}, "invalid x-api-key"),
     ({"authorization": "Basic dXNlcjpwYXNz"}, "x-api-key header is required")],
)
async def test_missing_or_unknown_key_is_401(stack: Stack, headers: dict[str, str],
                                            fragment: str) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as client:
        for response in (await client.post(BATCHES, json=body(), headers=headers),
                         await client.get(BATCHES, headers=headers)):
            assert_error(response, 401, "authentication_error", fragment)
    await assert_nothing_stored(stack)


async def test_revoked_key_is_401_and_bearer_works(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as client:
        bearer = {"authorization": f"Bearer {stack.api_key}"}
        assert (await client.get(BATCHES, headers=bearer)).status_code == 200
        async with stack.engine.begin() as conn:
            key_id = (await conn.execute(text("SELECT id FROM api_keys"))).scalar_one()
            assert await revoke_key(conn, key_id)
        assert_error(await client.get(BATCHES, headers=bearer), 401, "authentication_error")


async def test_routing_and_parameter_errors(stack: Stack, http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/v1/nothing-here"), 404, "not_found_error")
    assert_error(await http.put(BATCHES, json=body()), 405, "invalid_request_error")
    assert_error(await http.delete(BATCHES), 405, "invalid_request_error")
    assert_error(await http.get(f"{BATCHES}/msgbatch_nope"), 404, "not_found_error",
                 "msgbatch_nope")
    for limit in ("0", "1001", "many"):
        assert_error(await http.get(BATCHES, params={"limit": limit}), 400,
                     "invalid_request_error", "limit")
    assert_error(await http.get(BATCHES, params={"after_id": "a", "before_id": "b"}), 400,
                 "invalid_request_error", "at most one")
    await assert_nothing_stored(stack)


async def test_results_before_the_end_and_beta_flags(stack: Stack, http: httpx.AsyncClient) -> None:
    created = await http.post(BATCHES, params={"beta": "true"}, json=body(),
                              headers={"anthropic-beta": "message-batches-2024-09-24"})
    assert created.status_code == 200
    batch_id = created.json()["id"]
    assert_error(await http.get(f"{BATCHES}/{batch_id}/results"), 400,
                 "invalid_request_error", "results are available once it has ended")
    assert_error(await http.delete(f"{BATCHES}/{batch_id}"), 400,
                 "invalid_request_error", "cancel it first")
