"""``/_simulator/stats`` and ``/_simulator/reset`` over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from app.simulator import SimulatorConfig
from tests.integration.test_simulator_http import BODY, raw_post, running_simulator

AUTH = {"x-api-key": "k"}
ZERO = {
    "calls": 0,
    "by_status": {},
    "accepted_per_minute": [],
    "peak_concurrency": 0,
    "in_flight": 0,
    "distinct_bodies": 0,
    "duplicate_calls": 0,
    "max_calls_per_body": 0,
    "rate_limited": {},
    "cache_reads": 0,
    "cache_writes": 0,
}


def body(i: int) -> dict[str, Any]:
    return {**BODY, "metadata": {"user_id": f"u{i}"}}


async def test_stats_count_what_was_sent_and_reset_zeroes_them() -> None:
    async with running_simulator(SimulatorConfig()) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/_simulator/stats")).json() == ZERO  # no auth needed
        for i in range(5):
            assert (await http.post("/v1/messages", json=body(i), headers=AUTH)).status_code == 200
        # The same bytes again: body 0 three more times, body 1 once more (duplicates a crash would cause).
        for i in (0, 0, 0, 1):
            assert (await http.post("/v1/messages", json=body(i), headers=AUTH)).status_code == 200
        # The same JSON with other bytes is another body: duplicates are counted on raw bytes.
        respaced = json.dumps(body(2), indent=2).encode()
        assert (await http.post("/v1/messages", content=respaced, headers=AUTH)).status_code == 200
        assert (await http.post("/v1/messages", content=b"{bad", headers=AUTH)).status_code == 400
        assert (await http.post("/v1/messages", json=body(0))).status_code == 401  # body never read
        assert (await http.get("/v1/messages", headers=AUTH)).status_code == 405  # not a call
        assert (await http.post("/v1/other", json=body(0), headers=AUTH)).status_code == 404

        stats = (await http.get("/_simulator/stats")).json()
        assert set(stats) == set(ZERO)
        assert stats["calls"] == 12
        assert stats["by_status"] == {"200": 10, "400": 1, "401": 1}
        assert (stats["distinct_bodies"], stats["duplicate_calls"], stats["max_calls_per_body"]) == (7, 4, 4)
        assert stats["in_flight"] == 0 and stats["peak_concurrency"] == 1
        assert stats["rate_limited"] == {}
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00Z")
        assert sum(m["calls"] for m in stats["accepted_per_minute"]) == 10
        assert stats["accepted_per_minute"][-1]["minute"] <= minute

        reset = await http.post("/_simulator/reset")
        assert reset.status_code == 200 and reset.json() == ZERO
        assert (await http.get("/_simulator/stats")).json() == ZERO
        # Bodies seen before the reset are forgotten too.
        assert (await http.post("/v1/messages", json=body(0), headers=AUTH)).status_code == 200
        stats = (await http.get("/_simulator/stats")).json()
        assert (stats["calls"], stats["distinct_bodies"], stats["duplicate_calls"]) == (1, 1, 0)


async def test_peak_concurrency_counts_simultaneous_calls() -> None:
    async with running_simulator(SimulatorConfig(latency_seconds=0.4)) as url, httpx.AsyncClient(base_url=url) as http:
        calls = asyncio.gather(*(raw_post(url, body(i)) for i in range(50)))
        await asyncio.sleep(0.2)
        during = (await http.get("/_simulator/stats")).json()
        assert during["in_flight"] == 50 and during["by_status"] == {}
        assert [status for status, _ in await calls] == [200] * 50
        stats = (await http.get("/_simulator/stats")).json()
        assert (stats["peak_concurrency"], stats["in_flight"], stats["calls"]) == (50, 0, 50)
        assert stats["by_status"] == {"200": 50} and stats["distinct_bodies"] == 50
        # A reset while calls are in flight keeps them in the gauge, but not in the counts.
        calls = asyncio.gather(*(raw_post(url, body(i)) for i in range(3)))
        await asyncio.sleep(0.2)
        after_reset = (await http.post("/_simulator/reset")).json()
        assert (after_reset["in_flight"], after_reset["peak_concurrency"], after_reset["calls"]) == (3, 3, 0)
        await calls
        stats = (await http.get("/_simulator/stats")).json()
        assert (stats["in_flight"], stats["calls"], stats["by_status"]) == (0, 0, {})
