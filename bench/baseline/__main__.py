"""Rate-limit check of the baseline against a fresh simulator, printed as JSON.

    .venv/bin/python -m bench.baseline --requests 600 --rpm 600 --workers 3 \\
        --latency 0.8 --latency-distribution lognormal --latency-spread 0.4

Starts ``batchmill simulator`` on a loopback port, runs ``run_ratelimit_scenario``
and adds what the simulator saw: outcomes by status (429s included), calls,
accepted per wall-clock minute, and the achieved accepted rate over the run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.baseline.processes import environment, free_port, stop
from bench.baseline.run import run_ratelimit_scenario

BATCHMILL = str(Path(sys.executable).with_name("batchmill"))


def requests(count: int) -> list[dict[str, Any]]:
    """``count`` small, distinct Messages requests for one model."""
    return [{"custom_id": f"r-{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Summarise document {i}."}]}}
        for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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

    import subprocess  # noqa: PLC0415 - only this entry point runs a simulator

    logs = Path(tempfile.mkdtemp(prefix="baseline-check-"))
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    with (logs / "simulator.log").open("wb") as out:
        sim = subprocess.Popen([BATCHMILL, "simulator", "--port", str(port), "--rpm", str(args.rpm),
                                "--latency", str(args.latency), "--seed", str(args.seed),
                                "--latency-distribution", args.latency_distribution,
                                "--latency-spread", str(args.latency_spread)],
                               env=environment(), stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{sim_url}/_simulator/stats", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        outcome = run_ratelimit_scenario(sim_url, requests(args.requests), workers=args.workers,
                                         concurrency=args.concurrency, rate_limit=args.rate_limit,
                                         timeout=args.timeout, logs=logs)
        stats = httpx.get(f"{sim_url}/_simulator/stats", timeout=5).json()
    finally:
        stop([sim], grace=10)
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
