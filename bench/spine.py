"""The spine's two figures: seconds to accept one 10,000-request batch (durable on return),
and end-to-end requests/s with the simulator at zero latency and one worker process.

    make bench-spine        (or: python -m bench.spine [--accept N] [--e2e N] [--repeat K])
"""
from __future__ import annotations

import argparse
import statistics
import time

from bench.harness import batchmill, fresh_database, machine, requests, wait_ended


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accept", type=int, default=10_000)
    parser.add_argument("--e2e", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine()}")

    with fresh_database() as database:
        # Accept: no worker runs, so the timing is the API and Postgres alone.
        with batchmill(database, workers=0) as bm:
            client = bm.client()
            payload = requests(args.accept)
            timings = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                client.messages.batches.create(requests=payload)  # type: ignore[arg-type]
                timings.append(time.perf_counter() - start)
            print(f"accept {args.accept:,}-request batch: median {statistics.median(timings):.3f} s"
                  f" (min {min(timings):.3f}, max {max(timings):.3f}, n={args.repeat})")

    with fresh_database() as database:
        with batchmill(database, workers=1, concurrency=args.concurrency) as bm:
            client = bm.client()
            batch = client.messages.batches.create(
                requests=requests(args.e2e))  # type: ignore[arg-type]
            start = time.monotonic()
            ended = wait_ended(client, batch.id)
            final = client.messages.batches.retrieve(batch.id)
            rate = args.e2e / (ended - start)
            print(f"end to end, 1 worker (concurrency {args.concurrency}), simulator latency 0: "
                  f"{args.e2e:,} requests in {ended - start:.2f} s = {rate:.0f} requests/s "
                  f"({final.request_counts.succeeded:,} succeeded)")


if __name__ == "__main__":
    main()
