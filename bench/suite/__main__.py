"""Run the suite and print its table (also written to test-artifacts/bench/latest.md).

    make bench            (or: python -m bench.suite [--only P1,P5] [--scale 0.2])

Needs Postgres (BATCHMILL_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test)
and Redis (BASELINE_REDIS_URL, default redis://127.0.0.1:6379/15, flushed) for the seed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import SERVER_URL
from bench.suite.limits import p3_rate_limited
from bench.suite.reads import p5_reads
from bench.suite.report import Row, machine, render
from bench.suite.scenarios import p1_accept, p2_p6, p4_slow_calls
from bench.suite.stacks import LOGS, LoadSampler

OUTPUT = Path("test-artifacts/bench/latest.md")
#: Scenario groups in running order; P2 and P6 share their runs.
SCENARIOS: dict[str, Callable[[float], tuple[list[Row], list[str]]]] = {
    "P1": p1_accept, "P2+P6": p2_p6, "P3": p3_rate_limited, "P4": p4_slow_calls,
    "P5": p5_reads,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated: P1,P2,P3,P4,P5,P6")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every scenario's size (1 = the issue's sizes)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    wanted = {name.strip().upper() for name in args.only.split(",") if name.strip()}
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    LOGS.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    notes: list[str] = []
    with LoadSampler() as load:
        for name, scenario in SCENARIOS.items():
            if wanted and not wanted & set(name.split("+")):
                continue
            began = time.monotonic()
            print(f"{name} ...", flush=True)
            found, explained = scenario(args.scale)
            rows += found
            notes += explained
            print(f"{name} done in {time.monotonic() - began:.0f} s", flush=True)
    if args.scale != 1:
        notes.append(f"Sizes scaled by {args.scale} (--scale).")
    table = render(rows, started=started, seconds=time.monotonic() - clock,
                   machine_line=machine(SERVER_URL), loads=load.loads, notes=notes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    print()
    print(table)
    print(f"(written to {args.output})")


if __name__ == "__main__":
    main()
