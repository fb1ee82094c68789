"""Rate-limit check of the baseline against a fresh simulator, printed as JSON.

    .venv/bin/python -m bench.baseline --requests 600 --rpm 600 --workers 3 \\
        --latency 0.8 --latency-distribution lognormal --latency-spread 0.4

Starts ``batchmill simulator`` on a loopback port, runs ``run_ratelimit_scenario``
and adds what the simulator saw: outcomes by status (429s included), calls,
accepted per wall-clock minute, and the accepted rate over the whole run.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.baseline.run import run_ratelimit_scenario, simulator_process


def requests(count: int) -> list[dict[str, Any]]:
    """``count`` small, distinct Messages requests for one model."""
    return [{"custom_id": f"r-{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Summarise document {i}."}]}}
        for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rate-limit check of the seed baseline.")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate-limit", default="800/m")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.8)
    parser.add_argument("--latency-distribution", default="lognormal")
    parser.add_argument("--latency-spread", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    logs = Path(tempfile.mkdtemp(prefix="baseline-check-"))
    simulator = ("--rpm", str(args.rpm), "--latency", str(args.latency), "--seed", str(args.seed),
                 "--latency-distribution", args.latency_distribution,
                 "--latency-spread", str(args.latency_spread))
    with simulator_process(simulator, log=logs / "simulator.log") as sim_url:
        outcome = run_ratelimit_scenario(sim_url, requests(args.requests), workers=args.workers,
                                         concurrency=args.concurrency, rate_limit=args.rate_limit,
                                         timeout=args.timeout, logs=logs)
        stats = httpx.get(f"{sim_url}/_simulator/stats", timeout=5).json()
    accepted = stats["by_status"].get("200", 0)
    print(json.dumps({
        "config": vars(args), "logs": str(logs), **outcome,
        "simulator": {key: stats[key] for key in
                      ("calls", "by_status", "accepted_per_minute", "peak_concurrency",
                       "duplicate_calls", "rate_limited")},
        "responses_429": stats["by_status"].get("429", 0),
        "accepted_per_minute_overall": round(accepted / outcome["seconds"] * 60, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
