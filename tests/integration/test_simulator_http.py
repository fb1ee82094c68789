"""The simulator over real HTTP: the official SDK parses its answers, raw httpx checks its errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest

from app.simulator import SimulatorConfig, serve

TEXT = "The quarterly report shows revenue grew while costs stayed flat across all regions"
BODY: dict[str, Any] = {"model": "claude-sim-1", "max_tokens": 256, "messages": [{"role": "user", "content": TEXT}]}


@contextlib.asynccontextmanager
async def running_simulator(config: SimulatorConfig) -> AsyncIterator[str]:
    """Serve ``config`` on an ephemeral loopback port in this event loop; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # plain proto-0 socket on purpose
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)  # connections queue in the backlog until the server task starts accepting
    task = asyncio.create_task(serve(config, sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert sock.fileno() == -1, "cancelling serve() must close the listening socket"


@pytest.fixture(scope="module")
async def base_url() -> AsyncIterator[str]:
    async with running_simulator(SimulatorConfig()) as url:
        yield url


@pytest.fixture
async def sdk(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers={"anthropic-version": "2023-06-01"}) as client:
        yield client


def assert_error(response: httpx.Response, status: int, error_type: str, message_start: str = "") -> None:
    """Status, Anthropic's error envelope, and a request-id header equal to the body's."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"type", "error", "request_id"}
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["error"]["message"].startswith(message_start)
    assert response.headers["request-id"] == payload["request_id"]
    assert payload["request_id"].startswith("req_")


async def test_sdk_parses_a_message(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(
        model="claude-sim-1", max_tokens=256, system="Be brief.", messages=[{"role": "user", "content": TEXT}]
    )
    assert isinstance(message, anthropic.types.Message)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant", "claude-sim-1")
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert isinstance(message.content[0], anthropic.types.TextBlock)
    assert message.content[0].text == "Summary: " + TEXT
    assert message.usage.input_tokens == -(-len("Be brief.") // 4) + -(-len(TEXT) // 4)
    assert message.usage.output_tokens == -(-len("Summary: " + TEXT) // 4)
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    assert message.usage.service_tier == "standard"
    assert message._request_id is not None and message._request_id.startswith("req_")


async def test_same_body_gives_same_answer_with_fresh_ids(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**BODY)
    second = await sdk.messages.create(**BODY)
    assert first.content == second.content and first.usage == second.usage
    assert first.id != second.id and first._request_id != second._request_id


async def test_max_tokens_truncates_text(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(**{**BODY, "max_tokens": 3})
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text" and message.content[0].text == ("Summary: " + TEXT)[:12]
    assert message.usage.output_tokens == 3


async def test_sdk_raises_bad_request_with_anthropic_error(sdk: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.create(**{**BODY, "max_tokens": 0})
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Input should be greater than or equal to 1"},
        "request_id": caught.value.request_id,
    }
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")


@pytest.mark.parametrize("headers", [{"x-api-key": "k"}, {"authorization": "Bearer k"}])
async def test_both_auth_header_styles_are_accepted(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await http.post("/v1/messages", json=BODY, headers=headers)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    assert response.json()["content"][0]["text"] == "Summary: " + TEXT


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "x-api-key header is required"),
        ({"x-api-key": ""}, "invalid x-api-key"),
        ({"authorization": "Bearer"}, "invalid bearer token"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "invalid bearer token"),
    ],
)
async def test_missing_or_malformed_key_is_401(http: httpx.AsyncClient, headers: dict[str, str], message: str) -> None:
    assert_error(await http.post("/v1/messages", json=BODY, headers=headers), 401, "authentication_error", message)


async def test_sdk_maps_401_to_authentication_error(base_url: str) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=base_url, api_key="x", max_retries=0, default_headers={"Authorization": "Basic x"}
    ) as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(**BODY)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "There was an issue with the request body: invalid JSON"),
        (b"", "There was an issue with the request body: invalid JSON"),
        (b"[]", "request body must be a JSON object"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', "max_tokens: Field required"),
        (b'{"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "hi"}]}', "messages.0.role:"),
    ],
)
async def test_invalid_bodies_are_400(http: httpx.AsyncClient, content: bytes, message: str) -> None:
    response = await http.post("/v1/messages", content=content, headers={"x-api-key": "k"})
    assert_error(response, 400, "invalid_request_error", message)


async def test_unknown_route_is_404_and_wrong_method_is_405(http: httpx.AsyncClient) -> None:
    assert_error(await http.post("/v1/nope", json=BODY, headers={"x-api-key": "k"}), 404, "not_found_error")
    assert_error(await http.get("/"), 404, "not_found_error")
    assert_error(await http.get("/v1/messages", headers={"x-api-key": "k"}), 405, "invalid_request_error")


async def test_request_ids_are_unique(http: httpx.AsyncClient) -> None:
    responses = [await http.post("/v1/messages", json=BODY, headers={"x-api-key": "k"}) for _ in range(20)]
    ids = {response.headers["request-id"] for response in responses}
    assert len(ids) == 20 and all(i.startswith("req_") for i in ids)


async def test_sequential_requests_are_fast(http: httpx.AsyncClient) -> None:
    """Guards against Nagle + delayed-ACK stalls (~40 ms per response) on plain sockets."""
    started = time.perf_counter()
    for _ in range(25):
        assert (await http.post("/v1/messages", json=BODY, headers={"x-api-key": "k"})).status_code == 200
    assert time.perf_counter() - started < 0.75


async def test_body_over_the_limit_is_413() -> None:
    async with running_simulator(SimulatorConfig(max_request_bytes=1024)) as url, httpx.AsyncClient() as client:
        response = await client.post(f"{url}/v1/messages", content=b"x" * 2048, headers={"x-api-key": "k"})
        assert_error(response, 413, "request_too_large")


async def raw_post(url: str, payload: dict[str, Any]) -> tuple[int, float]:
    """One POST on its own connection over raw asyncio streams; returns (status, seconds).

    Used for the concurrency test because httpx's connection pool is quadratic in
    the number of connections and would dominate the timing at hundreds of them.
    """
    host, port = url.removeprefix("http://").split(":")
    content = json.dumps(payload).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nhost: %s\r\nx-api-key: k\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (host.encode(), len(content), content)
    )
    response = await reader.read()  # the server closes the connection after the response
    writer.close()
    return int(response[9:12]), time.perf_counter() - started


async def test_latency_is_awaited_concurrently() -> None:
    latency, concurrency = 0.5, 300
    async with running_simulator(SimulatorConfig(latency_seconds=latency)) as url:
        started = time.perf_counter()
        results = await asyncio.gather(*(raw_post(url, BODY) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        assert [status for status, _ in results] == [200] * concurrency
        # Every call waited the latency, yet they all overlapped (serially: 150 s).
        assert min(seconds for _, seconds in results) >= latency
        assert elapsed < latency + 2.0
        # Validation errors are answered at once, without the latency.
        status, seconds = await raw_post(url, {})
        assert status == 400 and seconds < latency
