"""Injected faults over real HTTP: what the official SDK (and raw httpx) sees for each one."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from typing import Any

import anthropic
import httpx
import pytest

from app.simulator import SimulatorConfig
from tests.integration.test_simulator_http import BODY, running_simulator


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/_simulator/stats")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("field", "exception", "status", "error_type", "has_retry_after"),
    [
        ("rate_429", anthropic.RateLimitError, 429, "rate_limit_error", True),
        ("rate_529", anthropic.OverloadedError, 529, "overloaded_error", False),
        ("rate_500", anthropic.InternalServerError, 500, "api_error", False),
    ],
)
async def test_error_faults_give_anthropic_errors(
    field: str, exception: type[anthropic.APIStatusError], status: int, error_type: str, has_retry_after: bool
) -> None:
    config = SimulatorConfig(**{field: 1.0}, retry_after_seconds=3, rpm=1000, latency_seconds=5.0)
    async with (
        running_simulator(config) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        for _ in range(5):
            started = time.perf_counter()
            with pytest.raises(exception) as caught:
                await sdk.messages.create(**BODY)
            assert time.perf_counter() - started < 1.0, "injected errors are answered at once"
            error = caught.value
            assert error.status_code == status
            assert error.body == {
                "type": "error",
                "error": {"type": error_type, "message": error.body["error"]["message"]},  # type: ignore[index]
                "request_id": error.request_id,
            }
            headers = error.response.headers
            assert headers.get("retry-after") == ("3" if has_retry_after else None)
            # Honest rate-limit headers: the injected error consumed nothing.
            assert headers["anthropic-ratelimit-requests-limit"] == "1000"
            assert headers["anthropic-ratelimit-requests-remaining"] == "1000"
        assert (await stats(url))["by_status"] == {str(status): 5}


async def test_drop_is_a_connection_error_not_a_status() -> None:
    async with (
        running_simulator(SimulatorConfig(rate_drop=1.0)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        for _ in range(3):
            with pytest.raises(anthropic.APIConnectionError) as caught:
                await sdk.messages.create(**BODY)
            assert not isinstance(caught.value, (anthropic.APITimeoutError, anthropic.APIStatusError))
            assert "peer closed connection without sending complete message body" in str(caught.value)
        # The connection really went mid-response: headers arrived, the body did not.
        async with httpx.AsyncClient() as client:
            async with client.stream("POST", f"{url}/v1/messages", json=BODY, headers={"x-api-key": "k"}) as r:
                assert r.status_code == 200 and int(r.headers["content-length"]) > 0
                with pytest.raises(httpx.RemoteProtocolError):
                    await r.aread()
        snapshot = await stats(url)
        assert snapshot["by_status"] == {"drop": 4} and snapshot["in_flight"] == 0


async def test_slow_answer_times_the_client_out() -> None:
    async with (
        running_simulator(SimulatorConfig(rate_slow=1.0, slow_seconds=5.0)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0, timeout=0.3) as sdk,
    ):
        started = time.perf_counter()
        with pytest.raises(anthropic.APITimeoutError):
            await sdk.messages.create(**BODY)
        assert 0.3 <= time.perf_counter() - started < 1.0
        await asyncio.sleep(0.1)  # the server notices the disconnect and stops waiting
        snapshot = await stats(url)
        assert snapshot["by_status"] == {"slow": 1} and snapshot["in_flight"] == 0


async def test_slow_answer_arrives_for_a_patient_client() -> None:
    async with (
        running_simulator(SimulatorConfig(rate_slow=1.0, slow_seconds=0.4, latency_seconds=0.0)) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0, timeout=5.0) as sdk,
    ):
        started = time.perf_counter()
        message = await sdk.messages.create(**BODY)
        assert time.perf_counter() - started >= 0.4
        assert message.content[0].type == "text"


async def raw_outcome(url: str, index: int, timeout: float) -> str:
    """Client-visible outcome of one call on its own connection: its status, "drop" or "slow".

    Raw asyncio streams rather than httpx: its connection pool would dominate the
    run time at thousands of calls.
    """
    host, port = url.removeprefix("http://").split(":")
    content = json.dumps({**BODY, "metadata": {"user_id": f"u{index}"}}).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nhost: %s\r\nx-api-key: k\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (host.encode(), len(content), content)
        )
        try:
            response = await asyncio.wait_for(reader.read(), timeout)  # until the server closes
        except TimeoutError:
            return "slow"
    finally:
        writer.close()
    head, _sep, payload = response.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    if len(payload) < int(headers[b"content-length"]):
        return "drop"
    return head[9:12].decode()


async def test_mixed_fault_rates_land_within_statistical_bounds() -> None:
    n = 2000
    rates = {"429": 0.08, "529": 0.05, "500": 0.04, "drop": 0.05, "slow": 0.03}
    config = SimulatorConfig(
        seed=1234, slow_seconds=10.0, **{f"rate_{name}": rate for name, rate in rates.items()}  # type: ignore[arg-type]
    )
    async with running_simulator(config) as url:
        gate = asyncio.Semaphore(32)

        async def guarded(i: int) -> str:
            async with gate:
                # Far below slow_seconds, far above a loaded machine's normal answer time.
                return await raw_outcome(url, i, timeout=2.0)

        outcomes = Counter(await asyncio.gather(*(guarded(i) for i in range(n))))
        expected = {**rates, "200": 1 - sum(rates.values())}
        assert set(outcomes) <= set(expected)
        for outcome, p in expected.items():
            sigma = math.sqrt(n * p * (1 - p))
            assert abs(outcomes[outcome] - n * p) < 4 * sigma, (outcome, outcomes)
        for _ in range(100):  # until the server has noticed the timed-out clients' disconnects
            snapshot = await stats(url)
            if snapshot["in_flight"] == 0 and snapshot["calls"] == n:
                break
            await asyncio.sleep(0.05)
        # The server saw exactly what the clients saw.
        assert snapshot["calls"] == n and snapshot["in_flight"] == 0
        assert snapshot["by_status"] == dict(outcomes)
        assert snapshot["distinct_bodies"] == n and snapshot["duplicate_calls"] == 0
