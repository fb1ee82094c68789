"""One batch through each system, start to end: the building block of P2, P4 and P6.

Workers are started and ready before the batch is submitted, so a run's time is the system
accepting and processing the batch, never a process starting."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from app.settings import DatabaseUrl
from bench.baseline.run import baseline, simulator_process
from bench.harness import fresh_database
from bench.suite.stacks import LOGS, Progress, Stack, batch_done, batchmill_stack, follow, \
    peak_rss_mb, simulator_stats

#: Longest a single run may take before the suite gives up on it.
RUN_TIMEOUT = 900.0


@dataclass
class Run:
    """What one batch run produced."""

    requests: int
    seconds: float
    """From the submit call until the batch was seen ended."""
    progress: Progress
    succeeded: int
    cost: float | None = None
    peak_in_flight: int | None = None
    worker_peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wait_workers_ready(database: DatabaseUrl, count: int, timeout: float = 90) -> None:
    """Until ``count`` procrastinate workers have registered (their loops are running)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database.libpq, autocommit=True) as conn:
        while True:
            (ready,), = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchall()
            if ready >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ready} of {count} workers registered after {timeout} s")
            time.sleep(0.2)


def batchmill_run(requests: list[dict[str, Any]], *, workers: int, concurrency: int = 16,
                  simulator_args: tuple[str, ...] = (), extra_body: dict[str, Any] | None = None,
                  worker_env: dict[str, str] | None = None, env: dict[str, str] | None = None,
                  queue_first: bool = False) -> Run:
    """A fresh database, simulator, API and ``workers`` ready workers; one batch to the end.
    With ``queue_first`` the batch is submitted before the workers start."""
    with fresh_database() as database, batchmill_stack(
            database, simulator_args=simulator_args, **(env or {})) as stack:
        def start() -> None:
            stack.start_workers(workers, concurrency, **(worker_env or {}))
            wait_workers_ready(database, workers)

        if not queue_first:
            start()
        return _submit_and_follow(stack, requests, extra_body, start if queue_first else None)


def _submit_and_follow(stack: Stack, requests: list[dict[str, Any]],
                       extra_body: dict[str, Any] | None,
                       start_workers: Callable[[], None] | None) -> Run:
    client = stack.client()
    start = time.monotonic()
    batch = client.messages.batches.create(requests=requests,  # type: ignore[arg-type]
                                           extra_body=extra_body)
    accepted = time.monotonic() - start
    if start_workers is not None:
        start_workers()
    progress = follow(batch_done(client, batch.id), len(requests), timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - start
    final = client.messages.batches.retrieve(batch.id)
    stats = stack.simulator_stats()
    rss = max((peak_rss_mb(pid) for pid in stack.worker_pids), default=None)
    return Run(len(requests), seconds, progress, final.request_counts.succeeded,
               cost=stack.cost_by_batch().get(batch.id), peak_in_flight=stats["peak_concurrency"],
               worker_peak_rss_mb=rss,
               extra={"accept_seconds": accepted, "calls": stats["calls"],
                      "cache_reads": stats["cache_reads"], "batch_id": batch.id})


def seed_run(requests: list[dict[str, Any]], *, processes: int, pool: str = "prefork",
             simulator_args: tuple[str, ...] = (), queue_first: bool = False) -> Run:
    """The seed: one Celery worker with ``processes`` prefork processes (or, with the threads
    pool, that many threads in one process), no rate limit; one batch to the end. With
    ``queue_first`` the batch is submitted before the worker starts."""
    with simulator_process(simulator_args, log=LOGS / "seed-simulator.log") as sim_url, \
            baseline(sim_url, workers=0 if queue_first else 1, concurrency=processes,
                     rate_limit="", pool=pool, logs=LOGS) as seed:
        start = time.monotonic()
        batch_id = seed.submit(requests)
        accepted = time.monotonic() - start
        if queue_first:
            seed.start_workers(1)

        def done() -> int:
            counts = seed.status(batch_id)["request_counts"]
            return int(counts["succeeded"] + counts["errored"])

        progress = follow(done, len(requests), timeout=RUN_TIMEOUT, poll=0.5)
        seconds = time.monotonic() - start
        lines = seed.results(batch_id)
        stats = simulator_stats(sim_url)
        rss = peak_rss_mb(seed.worker_pids[0]) if pool == "threads" else None
        usage = _usage(lines)
    return Run(len(requests), seconds, progress,
               sum(1 for line in lines if line["result"]["type"] == "succeeded"),
               peak_in_flight=stats["peak_concurrency"], worker_peak_rss_mb=rss,
               extra={"accept_seconds": accepted, "calls": stats["calls"], "usage": usage})


def _usage(lines: list[dict[str, Any]]) -> dict[str, int]:
    """Tokens the seed stored with its results, summed per kind (and the model, per model)."""
    totals: dict[str, int] = {}
    for line in lines:
        message = line["result"].get("message")
        if not message:
            continue
        model = str(message.get("model", ""))
        usage = message.get("usage") or {}
        for kind in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                     "cache_read_input_tokens"):
            key = f"{model}:{kind}"
            totals[key] = totals.get(key, 0) + int(usage.get(kind) or 0)
    return totals


def price_usage(usage: dict[str, int]) -> float:
    """USD for the seed's stored usage at Batchmill's prices (``batchmill_call_cost_v1``,
    realtime, the price in effect now): the same prices Batchmill's own calls are charged."""
    models = {key.split(":", 1)[0] for key in usage}
    total = Decimal(0)
    with fresh_database() as database, psycopg.connect(database.libpq) as conn:
        for model in models:
            def tokens(kind: str, model: str = model) -> int:
                return usage.get(f"{model}:{kind}", 0)

            (cost,), = conn.execute(
                "SELECT batchmill_call_cost_v1(%s, now(), %s, %s, %s, 0, %s, false)",
                [model, tokens("input_tokens"), tokens("output_tokens"),
                 tokens("cache_creation_input_tokens"),
                 tokens("cache_read_input_tokens")]).fetchall()
            if cost is None:
                raise RuntimeError(f"no price for {model}")
            total += cost
    return float(total)
