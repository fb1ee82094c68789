"""P3: the rate-limited run of ``bench.ratelimit`` (issue 5) — three worker processes against
a simulator enforcing 600 requests/min and 60,000 output tokens/min — in fewer requests, so
it fits the suite: achieved rate as % of the limit, and 429s as % of calls."""
from __future__ import annotations

import time
from typing import Any

from bench.baseline.run import baseline, simulator_process
from bench.harness import fresh_database
from bench.ratelimit import MODEL, OTPM, RPM, SIMULATOR, measure, workload
from bench.suite.report import Row
from bench.suite.runs import RUN_TIMEOUT, wait_workers_ready
from bench.suite.stacks import LOGS, batch_done, batchmill_stack, follow
from tests.e2e.processes import run

WORKERS, CONCURRENCY = 3, 8


def batchmill_limited(count: int) -> dict[str, Any]:
    with fresh_database() as database, batchmill_stack(database,
                                                       simulator_args=SIMULATOR) as stack:
        configured = run("limits", "set", "--model", MODEL, "--rpm", str(RPM), "--otpm",
                         str(OTPM), env=stack.env)
        if configured.returncode != 0:
            raise RuntimeError(f"batchmill limits set failed: {configured.stderr.strip()}")
        stack.start_workers(WORKERS, CONCURRENCY)
        wait_workers_ready(database, WORKERS)
        client = stack.client()
        start = time.monotonic()
        batch = client.messages.batches.create(requests=workload(count))  # type: ignore[arg-type]
        follow(batch_done(client, batch.id), count, timeout=RUN_TIMEOUT, poll=0.25)
        figures = measure(stack.simulator_url, time.monotonic() - start)
        figures["succeeded"] = client.messages.batches.retrieve(batch.id).request_counts.succeeded
    return figures


def seed_limited(count: int) -> dict[str, Any]:
    # The seed's configuration from issue 5: three Celery workers of 8 prefork processes,
    # each worker holding Celery's rate_limit="800/m" on its own.
    with simulator_process(SIMULATOR, log=LOGS / "seed-simulator.log") as sim_url, \
            baseline(sim_url, workers=WORKERS, concurrency=CONCURRENCY, logs=LOGS) as seed:
        start = time.monotonic()
        final = seed.wait_done(seed.submit(workload(count)), RUN_TIMEOUT, poll=0.25)
        figures = measure(sim_url, time.monotonic() - start)
        figures["succeeded"] = final["request_counts"]["succeeded"]
    return figures


def p3_rate_limited(scale: float = 1.0) -> tuple[list[Row], list[str]]:
    # Enough that the first minute's bucket runs dry and the limit, not the slots, paces
    # the rest (below ~1,000 the formula under-reads).
    count = max(RPM + 100, int(1_200 * scale))
    bm, seed = batchmill_limited(count), seed_limited(count)
    rows = [
        Row("P3 rate limit", f"achieved rate, % of {RPM} req/min ({count:,} requests)",
            bm["pct_of_limit"], seed["pct_of_limit"], "%", target="≥ 95 %",
            met=bm["pct_of_limit"] >= 95 and bm["pct_429"] <= 1, digits=1),
        Row("P3 rate limit", "429s, % of provider calls", bm["pct_429"], seed["pct_429"], "%",
            "lower", "≤ 1 %", bm["pct_429"] <= 1, 2),
    ]
    notes = [f"P3: {WORKERS} worker processes each side (Batchmill: concurrency {CONCURRENCY}, "
             f"one Postgres-held limit set with `batchmill limits set`; seed: Celery workers of "
             f"{CONCURRENCY} prefork processes, rate_limit=800/m each), latency lognormal mean "
             f"0.8 s. Achieved = (accepted calls - the first minute's bucket) / minutes from "
             f"submit to the last result. Batchmill: {bm['accepted']:,} accepted of "
             f"{bm['calls']:,} calls ({bm['429s']:,} 429s) in {bm['seconds']} s; seed: "
             f"{seed['accepted']:,} of {seed['calls']:,} ({seed['429s']:,} 429s) in "
             f"{seed['seconds']} s, {seed['succeeded']:,} of {count:,} succeeded."]
    return rows, notes
