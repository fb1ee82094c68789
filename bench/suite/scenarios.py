"""P1 acceptance, P2 throughput with P6 cost (the same runs), and P4 one worker against slow
calls. Each returns its table rows and notes; sizes scale with ``scale`` (1 = the issue's)."""
from __future__ import annotations

import statistics
import time

from bench.baseline import store
from bench.baseline.run import baseline, simulator_process
from bench.harness import fresh_database
from bench.suite.report import Row
from bench.suite.runs import Run, batchmill_run, price_usage, seed_run
from bench.suite.stacks import LOGS, batchmill_stack
from bench.suite.workloads import DOCUMENT_MODEL, SYSTEM_PROMPT, documents, small_requests

Result = tuple[list[Row], list[str]]


def p1_accept(scale: float = 1.0, repeat: int = 3) -> Result:
    """Seconds for the submit call of one 10,000-request batch to return, no worker running."""
    count = max(100, int(10_000 * scale))
    payload = small_requests(count)
    timings = []
    with fresh_database() as database, batchmill_stack(database) as stack:
        client = stack.client()
        client.messages.batches.create(requests=small_requests(10))  # type: ignore[arg-type]
        for _ in range(repeat):
            start = time.perf_counter()
            client.messages.batches.create(requests=payload)  # type: ignore[arg-type]
            timings.append(time.perf_counter() - start)
    with simulator_process(log=LOGS / "seed-simulator.log") as sim_url, \
            baseline(sim_url, workers=0, rate_limit="", logs=LOGS) as seed:
        seed.submit(small_requests(10))
        start = time.perf_counter()
        seed.submit(payload)
        seed_seconds = time.perf_counter() - start
    batchmill = statistics.median(timings)
    aof = store.connection().config_get("appendonly").get("appendonly", "?")
    rows = [Row("P1 accept", f"submit {count:,} requests (median of {repeat} / 1 run)",
                batchmill, seed_seconds, "s", "lower", "≤ 1 s", batchmill <= 1.0, 2)]
    notes = [f"P1: Batchmill returns after one committed transaction (batch, requests and "
             f"queue rows, fsync'd: durable); the seed returns after {count:,} Celery "
             f"apply_async calls into Redis (appendonly={aof}: with no, in memory only)."]
    return rows, notes


def p2_p6(scale: float = 1.0) -> Result:
    """End-to-end requests/s over the seed's workload (documents under one shared system
    prompt, simulator at zero latency), and what the 10,000 documents cost in each mode."""
    small, full = max(100, int(1_000 * scale)), max(200, int(10_000 * scale))
    one = {"batchmill": batchmill_run(documents(small), workers=1),
           "seed": seed_run(documents(small), processes=1)}
    cached = batchmill_run(documents(full), workers=2)  # automatic caching is the default
    naive = seed_run(documents(full), processes=2)
    uncached = batchmill_run(documents(full), workers=2, extra_body={"auto_cache": False})
    provider = batchmill_run(documents(full), workers=1, extra_body={"mode": "provider_batch"},
                             simulator_args=("--batch-seconds", "2"),
                             env={"BATCHMILL_PROVIDER_POLL_SECONDS": "1"})
    _check_complete([one["batchmill"], one["seed"], cached, naive, uncached, provider])
    seed_cost = price_usage(naive.extra["usage"])
    two_ok = cached.rate >= 400 and cached.rate >= naive.rate
    best = min(c for c in (cached.cost, uncached.cost, provider.cost) if c is not None)
    rows = [
        Row("P2 throughput", f"1 worker process, {small:,} documents (req/s end to end)",
            one["batchmill"].rate, one["seed"].rate, "req/s", digits=0),
        Row("P2 throughput", f"2 worker processes, {full:,} documents (req/s end to end)",
            cached.rate, naive.rate, "req/s", target="≥ 400 and ≥ seed", met=two_ok),
        Row("P6 cost", f"{full:,} documents, realtime without caching (USD)",
            uncached.cost, seed_cost, "$", "lower", digits=2),
        Row("P6 cost", f"{full:,} documents, realtime + automatic caching (USD)",
            cached.cost, seed_cost, "$", "lower", digits=2),
        Row("P6 cost", f"{full:,} documents, provider_batch + caching (USD)",
            provider.cost, seed_cost, "$", "lower", target="best ≤ 0.35 × seed",
            met=best <= 0.35 * seed_cost, digits=2),
    ]
    notes = [
        "P2: Batchmill runs `batchmill worker` processes (concurrency 16 each); the seed runs "
        "one Celery worker whose prefork pool has that many processes (plus its consumer "
        "process), with Celery's rate limit off. Both start ready, then the batch is submitted;"
        " the time runs from the submit call until the batch is seen ended. The 2-process run"
        " is the P6 run with automatic caching.",
        f"P6: {DOCUMENT_MODEL}, a {len(SYSTEM_PROMPT):,}-character "
        f"shared system prompt, max_tokens 300. Batchmill's figures are "
        f"`GET /v1/reports/cost?by=batch` (from llm_calls); the seed's is the usage it stored "
        f"with its results priced by Batchmill's `batchmill_call_cost_v1` at the same prices "
        f"(the seed has no caching and no batch mode). Cache reads: "
        f"{cached.extra['cache_reads']:,} realtime, provider batch simulated with "
        f"--batch-seconds 2 and a 1 s poll.",
    ]
    return rows, notes


def p4_slow_calls(scale: float = 1.0, concurrency: int = 250) -> Result:
    """One worker process against 1 s calls: how many it keeps in flight, its steady rate and
    its memory. The batch is queued first, so the rate is the worker's alone."""
    count = max(300, int(2_000 * scale))
    slow = ("--latency", "1")
    bm = batchmill_run(small_requests(count), workers=1, concurrency=concurrency,
                       simulator_args=slow, queue_first=True,
                       worker_env={"BATCHMILL_DB_POOL_SIZE": "20"})
    seed = seed_run(small_requests(count), processes=concurrency, pool="threads",
                    simulator_args=slow, queue_first=True)
    _check_complete([bm, seed])
    rate = {"batchmill": bm.progress.steady_rate(count), "seed": seed.progress.steady_rate(count)}
    rows = [
        Row("P4 1 s calls", "peak calls in flight, one worker process",
            bm.peak_in_flight, seed.peak_in_flight, target="≥ 200",
            met=(bm.peak_in_flight or 0) >= 200),
        Row("P4 1 s calls", f"steady throughput, {count:,} requests (req/s)",
            rate["batchmill"], rate["seed"], "req/s", digits=0),
        Row("P4 1 s calls", "worker peak RSS", bm.worker_peak_rss_mb,
            seed.worker_peak_rss_mb, "MB", "lower", "≤ 250 MB",
            (bm.worker_peak_rss_mb or 1e9) <= 250),
    ]
    notes = [f"P4: Batchmill: one `batchmill worker --concurrency {concurrency}` "
             f"(BATCHMILL_DB_POOL_SIZE=20); the seed: one Celery worker with the threads pool at"
             f" {concurrency} (its prefork pool would hold one call per process). Peak in flight"
             f" is the simulator's count; throughput is measured between 20 % and 80 % done."]
    return rows, notes


def _check_complete(runs: list[Run]) -> None:
    for run in runs:
        if run.succeeded != run.requests:
            raise RuntimeError(f"only {run.succeeded:,} of {run.requests:,} requests succeeded")
