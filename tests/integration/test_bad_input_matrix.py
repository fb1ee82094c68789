"""The bad-input matrix: each kind of hostile or broken submission gets its status and
Anthropic error type, and leaves nothing behind: no batch, no request, no queue row.

Variants test_api_errors already pins (``{not json``, ``colour``/``retries`` unknown fields,
file:// callbacks, the declared-length upload over the limit) are not repeated; every row of
the matrix is here, with the regressions the fuzzer found. The API runs with default settings
(private callback addresses refused) over one database that every case must leave empty.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.app import serve as serve_api
from app.db.engine import create_engine
from app.keys import create_key
from app.schemas import MAX_URL_LENGTH
from app.serving import base_url, loopback_socket
from app.settings import DatabaseUrl, Settings
from tests import postgres
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests

BATCHES = "/v1/messages/batches"
STORED = text("SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM requests),"
              " (SELECT count(*) FROM procrastinate_jobs)")
SMALL_LIMIT = 64 * 1024


@contextlib.asynccontextmanager
async def api_over_fresh_database(server_url: str, template: str) -> AsyncIterator[Stack]:
    """An API with default settings over a database of its own, with one tenant's key: for a
    module whose tests share it (each test here leaves the database as it found it)."""
    name = postgres.unique_name("batchmill_test")
    url = postgres.create_database(server_url, name, template=template)
    engine = create_engine(DatabaseUrl(url), pool_size=5)
    try:
        async with engine.begin() as conn:
            key = await create_key(conn, "tenant-a")
        settings = Settings(database_url=url, db_pool_size=5)
        async with serving(engine, settings) as api_url:
            yield Stack(settings=settings, engine=engine, api_url=api_url, api_key=key)
    finally:
        await engine.dispose()
        postgres.drop_database(server_url, name)


@pytest.fixture(scope="module")
async def stack(postgres_server_url: str, template_database: str) -> AsyncIterator[Stack]:
    """One API and database for the whole matrix (a fresh one per test costs more than the
    test): every case asserts the database is still empty."""
    async with api_over_fresh_database(postgres_server_url, template_database) as shared:
        yield shared


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60,
                                 headers={"x-api-key": stack.api_key}) as client:
        yield client


@contextlib.asynccontextmanager
async def serving(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    """An API over ``engine`` with ``settings``; yields its URL."""
    sock = loopback_socket()
    server = asyncio.create_task(serve_api(settings, engine=engine, sockets=[sock]))
    await asyncio.sleep(0.05)
    try:
        yield base_url(sock)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


async def refused(stack: Stack, response: httpx.Response, status: int, error_type: str,
                  fragment: str = "") -> None:
    """The response is Anthropic's error, and no batch, request or queue row exists."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert body["error"]["type"] == error_type, body
    assert fragment in body["error"]["message"], body
    async with stack.engine.connect() as conn:
        assert tuple((await conn.execute(STORED)).one()) == (0, 0, 0)


def batch(**changes: Any) -> dict[str, Any]:
    return {"requests": summarise_requests(2), **changes}


def request(**changes: Any) -> dict[str, Any]:
    return {**summarise_requests(1)[0], **changes}


async def post_raw(http: httpx.AsyncClient, payload: bytes, **headers: str) -> httpx.Response:
    return await http.post(BATCHES, content=payload,
                           headers={"content-type": "application/json", **headers})


@pytest.mark.parametrize("payload", [
    b'{"requests": [{"custom_id": "a", "params": {}}',  # truncated
    b'{"requests": [{"custom_id": "a", "params": {}}]} trailing',
    b'{"requests": [{"custom_id": "a", "params": {},}]}',  # trailing comma
    b"{'requests': []}",  # Python, not JSON
    b"[]", b"null", b"42", b'"requests"',  # JSON, but not an object
], ids=["truncated", "trailing-data", "trailing-comma", "single-quotes", "array", "null",
        "number", "string"])
async def test_malformed_json(stack: Stack, http: httpx.AsyncClient, payload: bytes) -> None:
    await refused(stack, await post_raw(http, payload), 400, "invalid_request_error")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"requests": {"custom_id": "a"}}, "requests: Expected `array`"),
    ({"requests": ["not an object"]}, "requests.0: Expected `object`"),
    ({"requests": [request(custom_id=7)]}, "requests.0.custom_id: Expected `str`"),
    ({"requests": [request(params=["model", "max_tokens"])]}, "requests.0.params"),
    ({"requests": [request(params=None)]}, "requests.0.params"),
    ({"requests": [request(priority="high")]}, "requests.0.priority"),
    ({"requests": [request(priority=True)]}, "requests.0.priority"),
    ({"requests": [request(task_type=["summary"])]}, "requests.0.task_type"),
    ({"priority": "1"}, "priority: Expected `int`"),
    ({"priority": 1.5}, "priority: Expected `int`"),
    ({"metadata": ["a", "b"]}, "metadata: Expected `object | null`"),
    ({"mode": 1}, "mode"),
    ({"auto_cache": "yes"}, "auto_cache: Expected `bool`"),
    ({"completion_window": 24}, "completion_window"),
    ({"completion_window": "soon"}, "completion_window"),
    ({"callback_url": {"url": "https://example.com"}}, "callback_url"),
])
async def test_wrong_types(stack: Stack, http: httpx.AsyncClient, changes: dict[str, Any],
                           fragment: str) -> None:
    await refused(stack, await http.post(BATCHES, json=batch(**changes)), 400,
                  "invalid_request_error", fragment)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"id": "msgbatch_mine"}, "Object contains unknown field `id`"),
    ({"processing_status": "ended"}, "unknown field `processing_status`"),
    ({"requests": [request(result={"type": "succeeded"})]}, "requests.0"),
    ({"requests": [request(customid="typo")]}, "requests.0"),
])
async def test_unknown_fields(stack: Stack, http: httpx.AsyncClient, changes: dict[str, Any],
                              fragment: str) -> None:
    await refused(stack, await http.post(BATCHES, json=batch(**changes)), 400,
                  "invalid_request_error", fragment)


@pytest.mark.parametrize(("payload", "fragment"), [
    (b'{"requests": [{"custom_id": "a", "params": {"model": "\xff\xfe"}}]}', "UTF-8"),
    (b'{"requests": [{"custom_id": "a", "params": {"\xc3": 1}}]}', "UTF-8"),  # cut in two
    (b'{"requests": [{"custom_id": "a\xe9", "params": {}}]}', ""),
    (b'{"requests": [{"custom_id": "a", "params": {}}], "metadata": {"k": "\xed\xa0\x80"}}',
     "UTF-8"),  # an encoded surrogate
    ('{"requests": [{"custom_id": "a", "params": {"x": "café"}}]}'.encode("utf-16"), ""),
], ids=["in-params-value", "in-params-key", "in-custom-id", "in-metadata", "utf-16-body"])
async def test_non_utf8_bytes(stack: Stack, http: httpx.AsyncClient, payload: bytes,
                              fragment: str) -> None:
    """Regression (fuzzer): bytes that are not UTF-8 inside params used to pass the decoder,
    which skips over params, and fail at storage with a 500."""
    await refused(stack, await post_raw(http, payload), 400, "invalid_request_error", fragment)


@pytest.mark.parametrize("count", [0, 100_001])
async def test_request_count_out_of_bounds(stack: Stack, http: httpx.AsyncClient,
                                           count: int) -> None:
    """Built as bytes (far faster than json for 100,001 requests), with real params."""
    one = b'{"custom_id":"r%d","params":{"model":"claude-haiku-4-5","max_tokens":8,' \
          b'"messages":[{"role":"user","content":"hi"}]}}'
    payload = b'{"requests":[' + b",".join(one % i for i in range(count)) + b"]}"
    bound = "length >= 1" if count == 0 else "length <= 100000"
    await refused(stack, await post_raw(http, payload), 400, "invalid_request_error",
                  f"requests: Expected `array` of {bound}")


async def _stream_until_answered(url: str, key: str, *, give_up_after: int) -> tuple[bytes, int]:
    """POST a chunked body of endless valid-looking JSON, 64 KiB a chunk, until the server
    answers; return the answer and how many body bytes had been sent by then."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {BATCHES} HTTP/1.1\r\nhost: {host}\r\nx-api-key: {key}\r\n"
                 "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".encode())
    answer = asyncio.create_task(reader.read(65536))
    chunk = b'{"custom_id": "r", "params": {"padding": "' + b"x" * 65_000 + b'"}},'
    sent = 0
    with contextlib.suppress(ConnectionError):
        while not answer.done() and sent < give_up_after:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)
    try:
        response = await asyncio.wait_for(answer, timeout=10)
    finally:
        writer.close()
    return response, sent


async def test_streamed_body_over_the_limit_is_cut_off(stack: Stack) -> None:
    """With a 64 KiB limit, a chunked upload that would go on for 256 MiB is answered 413
    long before its end: the server neither waits for the body nor holds it. (What the
    client gets rid of before the answer is mostly in the kernel's socket buffers, which
    may hold tens of MiB on loopback.)"""
    settings = dataclasses.replace(stack.settings, max_body_bytes=SMALL_LIMIT)
    async with serving(stack.engine, settings) as url:
        response, sent = await _stream_until_answered(url, stack.api_key,
                                                      give_up_after=256 * 1024 * 1024)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"request_too_large"' in body
    assert sent < 64 * 1024 * 1024, f"{sent:,} bytes went in before the server answered"
    async with stack.engine.connect() as conn:
        assert tuple((await conn.execute(STORED)).one()) == (0, 0, 0)


async def test_single_enormous_request(stack: Stack) -> None:
    """One request whose prompt alone is over the body limit (here 64 KiB; 256 MB by
    default): 413 before any of it is decoded."""
    settings = dataclasses.replace(stack.settings, max_body_bytes=SMALL_LIMIT)
    enormous = request(params={"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [
        {"role": "user", "content": "word " * (SMALL_LIMIT // 2)}]})
    async with serving(stack.engine, settings) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(BATCHES, json={"requests": [enormous]},
                                     headers={"x-api-key": stack.api_key})
    await refused(stack, response, 413, "request_too_large")


@pytest.mark.parametrize("custom_ids", [
    ["a", "b", "a"], ["same", "same"], ["Case", "case", "Case"],
], ids=["third-repeats-first", "pair", "case-sensitive"])
async def test_duplicate_custom_ids(stack: Stack, http: httpx.AsyncClient,
                                    custom_ids: list[str]) -> None:
    requests = [request(custom_id=custom_id) for custom_id in custom_ids]
    await refused(stack, await http.post(BATCHES, json={"requests": requests}), 400,
                  "invalid_request_error", f"requests.{len(custom_ids) - 1}.custom_id: duplicate")


@pytest.mark.parametrize("custom_id", [
    "", "x" * 65, "has space", "slash/y", "dot.y", "émoji🙂", "new\nline", "nul\x00",
    "<script>", "' OR 1=1 --",
])
async def test_invalid_custom_ids(stack: Stack, http: httpx.AsyncClient, custom_id: str) -> None:
    requests = [request(custom_id="fine"), request(custom_id=custom_id)]
    await refused(stack, await http.post(BATCHES, json={"requests": requests}), 400,
                  "invalid_request_error", "requests.1.custom_id")


@pytest.mark.parametrize("url", [
    "ftp://example.com/hook", "https://", "http:///hook", "https://?q=1",
    "https://example.com/" + "x" * MAX_URL_LENGTH,
    "http://[::1/hook",  # regression (fuzzer): urlsplit raised, a 500
    "http://example.com:99999/hook",  # regression (fuzzer): port out of range was stored
    "http://exa\x00mple.com/hook",  # regression (fuzzer): NUL reached Postgres, a 500
    "javascript:alert(1)", "example.com/hook",
])
async def test_bad_callback_url(stack: Stack, http: httpx.AsyncClient, url: str) -> None:
    await refused(stack, await http.post(BATCHES, json=batch(callback_url=url)), 400,
                  "invalid_request_error", "callback_url")


async def test_private_callback_url_is_refused_by_default(stack: Stack,
                                                          http: httpx.AsyncClient) -> None:
    """A callback into the network Batchmill runs in is refused unless
    BATCHMILL_WEBHOOK_ALLOW_PRIVATE=1 (the shared stack of the other tests allows it)."""
    assert not stack.settings.webhooks.allow_private
    response = await http.post(BATCHES, json=batch(callback_url="http://10.0.0.1/hook"))
    await refused(stack, response, 400, "invalid_request_error", "callback_url")


@pytest.mark.parametrize("changes", [
    {"priority": -101}, {"priority": 101}, {"priority": -(10**30)}, {"priority": 2**63},
    {"requests": [request(priority=-101)]}, {"requests": [request(priority=10**6)]},
    {"requests": [request(), request(custom_id="b", priority=-(2**64))]},
], ids=["batch-low", "batch-high", "batch-huge-negative", "batch-int64-overflow",
        "request-low", "request-high", "second-request-huge"])
async def test_out_of_range_priorities(stack: Stack, http: httpx.AsyncClient,
                                       changes: dict[str, Any]) -> None:
    await refused(stack, await http.post(BATCHES, json=batch(**changes)), 400,
                  "invalid_request_error", "priority")


@pytest.mark.parametrize("metadata", [
    {"blob": "x" * (16 * 1024)},  # just over: the key and quotes add the rest
    {f"k{i}": i for i in range(3_000)},
    {"deep": [[[[[[[[[[["x" * 17_000]]]]]]]]]]]},
], ids=["one-long-string", "many-keys", "nested"])
async def test_oversized_metadata(stack: Stack, http: httpx.AsyncClient,
                                  metadata: dict[str, Any]) -> None:
    await refused(stack, await http.post(BATCHES, json=batch(metadata=metadata)), 400,
                  "invalid_request_error", "metadata: must be at most 16,384 bytes")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"requests": [request(params={"model": "m\x00", "max_tokens": 5,
                                   "messages": [{"role": "user", "content": "x"}]})]},
     "requests.0.params: a string holds \\u0000"),
    ({"requests": [request(), request(custom_id="b", params={"x\x00": 1})]},
     "requests.1.params: a string holds \\u0000"),
    ({"metadata": {"note": "a\x00b"}}, "metadata: a string holds \\u0000"),
], ids=["params-value", "params-key", "metadata"])
async def test_nul_in_stored_json(stack: Stack, http: httpx.AsyncClient,
                                  changes: dict[str, Any], fragment: str) -> None:
    """Regression (fuzzer): ``\\u0000`` is valid JSON that no jsonb value can hold; it used to
    fail the insert with a 500."""
    await refused(stack, await http.post(BATCHES, json=batch(**changes)), 400,
                  "invalid_request_error", fragment)


async def test_escaped_backslash_before_u0000_is_fine(stack: Stack,
                                                      http: httpx.AsyncClient) -> None:
    """A literal backslash followed by ``u0000`` is ordinary text, not a NUL."""
    params = {"model": "claude-haiku-4-5", "max_tokens": 8,
              "messages": [{"role": "user", "content": "a path: C:\\u0000\\file"}]}
    try:
        response = await http.post(BATCHES, json={"requests": [request(params=params)]})
        assert response.status_code == 200, response.text
    finally:  # the matrix shares one database that every other case expects empty
        async with stack.engine.begin() as conn:
            await conn.execute(text("TRUNCATE batches, requests, procrastinate_jobs CASCADE"))


@pytest.mark.parametrize(("method", "target"), [
    ("GET", f"{BATCHES}/msgbatch_a%00b"), ("POST", f"{BATCHES}/msgbatch_a%00b/cancel"),
    ("DELETE", f"{BATCHES}/msgbatch_a%00b"), ("GET", f"{BATCHES}/msgbatch_a%00b/results"),
    ("GET", f"{BATCHES}?after_id=a%00b"), ("GET", f"{BATCHES}?before_id=%00"),
    ("GET", "/v1/webhooks/deliveries?batch_id=a%00b"),
])
async def test_nul_in_ids_and_cursors(stack: Stack, http: httpx.AsyncClient, method: str,
                                      target: str) -> None:
    """Regression (fuzzer): a NUL in a path or query value reached Postgres, a 500."""
    await refused(stack, await http.request(method, target), 400, "invalid_request_error",
                  "NUL")


@pytest.mark.parametrize("since", ["99999999999d", "999999999w", "3000000d"])
async def test_report_since_too_far_back(stack: Stack, http: httpx.AsyncClient,
                                         since: str) -> None:
    """Regression (fuzzer): a ``since`` past the calendar's start overflowed, a 500."""
    await refused(stack, await http.get("/v1/reports/cost", params={"since": since}), 400,
                  "invalid_request_error", "since")
