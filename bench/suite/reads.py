"""P5: reading a 100,000-request batch — its status (median of 20 calls) and its results
streamed (lines/s, and the server's memory while it streams).

Both systems get the same finished batch without running it: Batchmill's is submitted through
its API and marked finished in SQL (as workers would have left it), the seed's is written
into Redis as its workers would have. Each server is a fresh process, streams first, then
answers the status calls."""
from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable

import httpx
import msgspec

from bench.api_reads import MESSAGE, finish_all
from bench.baseline import store
from bench.baseline.run import baseline, simulator_process
from bench.baseline.settings import RESULT_TTL_SECONDS, ids_key, result_key
from bench.harness import fresh_database, rss_mb
from bench.suite.report import Row
from bench.suite.stacks import LOGS, batchmill_stack
from bench.suite.workloads import small_requests

STATUS_CALLS = 20
#: The seed's status reads every result; stop calling it after this long (median of fewer).
STATUS_BUDGET_SECONDS = 30.0
#: Growth of the server's resident memory while streaming that still counts as flat.
FLAT_MB = 50.0


def _stream(url: str, headers: dict[str, str], pid: int) -> dict[str, float]:
    before = rss_mb(pid)[0]
    start = time.perf_counter()
    lines = 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - start
    after, peak = rss_mb(pid)
    return {"lines": lines, "rate": lines / seconds, "before": before, "after": after,
            "peak": peak}


def _status(get: Callable[[], httpx.Response]) -> tuple[float, int]:
    """Median ms of up to STATUS_CALLS calls (fewer if they take STATUS_BUDGET_SECONDS), and
    how many were made."""
    get().raise_for_status()  # one warm-up call, not counted
    timings: list[float] = []
    deadline = time.monotonic() + STATUS_BUDGET_SECONDS
    while len(timings) < STATUS_CALLS and (len(timings) < 3 or time.monotonic() < deadline):
        start = time.perf_counter()
        get().raise_for_status()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), len(timings)


def batchmill_reads(count: int) -> dict[str, float]:
    with fresh_database() as database:
        with batchmill_stack(database) as stack:
            # Encoded here once: the SDK's own encoding of 100,000 requests is not the API's.
            response = httpx.post(
                f"{stack.api_url}/v1/messages/batches",
                content=json.dumps({"requests": small_requests(count)}),
                headers={"x-api-key": stack.api_key, "content-type": "application/json"},
                timeout=600)
            response.raise_for_status()
            batch_id = response.json()["id"]
        finish_all(database.libpq, batch_id)
        with batchmill_stack(database) as stack:  # a fresh API process
            headers = {"x-api-key": stack.api_key}
            url = f"{stack.api_url}/v1/messages/batches/{batch_id}"
            figures = _stream(f"{url}/results", headers, stack.api_pid)
            with httpx.Client(headers=headers, timeout=60) as http:
                figures["status_ms"], figures["status_calls"] = _status(lambda: http.get(url))
    return figures


def _seed_batch(count: int) -> str:
    """A finished batch of ``count`` succeeded requests, as the seed's workers store it."""
    batch_id = f"batch_{uuid.uuid4().hex}"
    redis = store.connection()
    message = msgspec.json.decode(MESSAGE)
    for start in range(0, count, 5_000):
        ids = [f"r-{i}" for i in range(start, min(count, start + 5_000))]
        with redis.pipeline(transaction=False) as pipe:
            pipe.rpush(ids_key(batch_id), *ids)
            for custom_id in ids:
                pipe.set(result_key(batch_id, custom_id),
                         json.dumps(store.succeeded(custom_id, message)), ex=RESULT_TTL_SECONDS)
            pipe.execute()
    redis.expire(ids_key(batch_id), RESULT_TTL_SECONDS)
    return batch_id


def seed_reads(count: int) -> dict[str, float]:
    with simulator_process(log=LOGS / "seed-simulator.log") as sim_url, \
            baseline(sim_url, workers=0, rate_limit="", logs=LOGS) as seed:
        batch_id = _seed_batch(count)
        url = f"{seed.url}/batches/{batch_id}"
        figures = _stream(f"{url}/results", {}, seed.api_pid)
        figures["status_ms"], figures["status_calls"] = _status(
            lambda: seed.http.get(f"/batches/{batch_id}"))
    return figures


def p5_reads(scale: float = 1.0) -> tuple[list[Row], list[str]]:
    count = max(1_000, int(100_000 * scale))
    bm, seed = batchmill_reads(count), seed_reads(count)
    for name, figures in (("Batchmill", bm), ("seed", seed)):
        if figures["lines"] != count:
            raise RuntimeError(f"{name} streamed {figures['lines']:,} of {count:,} lines")
    growth = {"bm": bm["peak"] - bm["before"], "seed": seed["peak"] - seed["before"]}
    rows = [
        Row("P5 reads", f"status of a {count:,}-request batch (median of "
            f"{bm['status_calls']:.0f} / {seed['status_calls']:.0f} calls, ms)",
            bm["status_ms"], seed["status_ms"], "ms", "lower", "≤ 50 ms",
            bm["status_ms"] <= 50, 1),
        Row("P5 reads", "results streamed (lines/s)", bm["rate"], seed["rate"], "lines/s",
            target="≥ 20,000", met=bm["rate"] >= 20_000),
        Row("P5 reads", "server RSS growth while streaming", growth["bm"], growth["seed"],
            "MB", "lower", f"flat (< {FLAT_MB:.0f} MB)", growth["bm"] < FLAT_MB),
    ]
    notes = [f"P5: server RSS before → peak while streaming: Batchmill {bm['before']:.0f} → "
             f"{bm['peak']:.0f} MB, seed {seed['before']:.0f} → {seed['peak']:.0f} MB. The "
             f"seed's status reads every result key (one MGET of {count:,} values) per call."]
    return rows, notes
