"""One provider rate limit, many workers: Batchmill (three worker processes sharing one
Postgres-held limiter) against the seed's design (three Celery workers, each with
``rate_limit="800/m"``), on the same simulator enforcing 600 requests/min and a token limit,
with the same 3,000 requests at realistic latency.

    make bench-ratelimit      (or: python -m bench.ratelimit [--requests N] [--system batchmill])

Achieved rate is counted by the simulator. Both systems start against a full provider bucket
(one minute's worth, taken in the first seconds), so the achieved rate is the calls accepted
beyond that first bucket over the whole run, from submission until the last result:
(accepted - limit) / minutes. It is printed next to the limit with the number of calls the
provider answered 429.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench.harness import batchmill, fresh_database, machine, run

RPM = 600
OTPM = 60_000
MODEL = "claude-haiku-4-5"
SIMULATOR = ("--rpm", str(RPM), "--otpm", str(OTPM), "--latency-distribution", "lognormal",
             "--latency", "0.8", "--latency-spread", "0.4", "--seed", "1")


def workload(count: int) -> list[dict[str, Any]]:
    text = "Quarterly revenue rose while costs fell; the board approved the plan. " * 6
    return [{"custom_id": f"r-{i}", "params": {
        "model": MODEL, "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Summarise item {i}: {text}"}]}}
        for i in range(count)]


def measure(simulator_url: str, seconds: float) -> dict[str, Any]:
    stats = httpx.get(f"{simulator_url}/_simulator/stats", timeout=10).json()
    calls = stats["calls"]
    throttled = stats["by_status"].get("429", 0)
    accepted = stats["by_status"].get("200", 0)
    rpm = (accepted - RPM) / (seconds / 60) if accepted > RPM else float("nan")
    return {"seconds": round(seconds, 1), "accepted": accepted, "calls": calls,
            "429s": throttled, "pct_429": round(100 * throttled / calls, 2) if calls else 0.0,
            "rpm": round(rpm, 1), "pct_of_limit": round(100 * rpm / RPM, 1)}


def run_batchmill(count: int) -> dict[str, Any]:
    def configure(env: dict[str, str]) -> None:
        run("limits", "set", "--model", MODEL, "--rpm", str(RPM), "--otpm", str(OTPM), env=env)

    with fresh_database() as database, batchmill(
            database, workers=3, concurrency=8, simulator_args=SIMULATOR,
            before_workers=configure) as bm:
        client = bm.client()
        start = time.monotonic()
        batch = client.messages.batches.create(requests=workload(count))  # type: ignore[arg-type]
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            time.sleep(1)
        figures = measure(bm.simulator_url, time.monotonic() - start)
        figures["succeeded"] = client.messages.batches.retrieve(batch.id).request_counts.succeeded
        return figures


def run_seed(count: int) -> dict[str, Any]:
    from bench.baseline.run import baseline, simulator_process

    # Same in-flight capacity as Batchmill's three workers: 8 prefork processes each.
    with simulator_process(SIMULATOR) as simulator_url, \
            baseline(simulator_url, workers=3, concurrency=8) as seed:
        start = time.monotonic()
        outcome = seed.run_scenario(workload(count))
        figures = measure(simulator_url, time.monotonic() - start)
        figures["succeeded"] = outcome["succeeded"]
        return figures


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [f"Rate limit {RPM} requests/min + {OTPM:,} output tokens/min, 3 worker processes",
             "", "| system | succeeded | seconds | achieved req/min | % of limit "
             "| provider calls | 429s | % of calls 429 |", "|---|---|---|---|---|---|---|---|"]
    for name, f in rows.items():
        lines.append(f"| {name} | {f['succeeded']:,} | {f['seconds']} | {f['rpm']} | "
                     f"{f['pct_of_limit']} % | {f['calls']:,} | {f['429s']:,} | "
                     f"{f['pct_429']} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--system", choices=["both", "batchmill", "seed"], default="both")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows: dict[str, dict[str, Any]] = {}
    if args.system in ("both", "batchmill"):
        rows["Batchmill (Postgres limiter)"] = run_batchmill(args.requests)
    if args.system in ("both", "seed"):
        rows["seed: Celery rate_limit=800/m + Redis"] = run_seed(args.requests)
    print(table(rows))


if __name__ == "__main__":
    main()
