"""Load: concurrent clients submit 500-request batches and poll their status for a minute,
over loopback, against the real API process while two worker processes (and the simulator)
run the batches. Reports requests served, errors (the target is none) and the latency of
the status calls; the table goes to stdout and to test-artifacts/load/latest.md.

    make load      (or: python -m bench.load [--clients 20] [--seconds 60] [--batch-size 500])

Each client loops: submit a batch, then poll ``GET /v1/messages/batches/{id}`` every
``--poll`` seconds until that batch ends (then submit the next), until time is up.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import psycopg

from bench.harness import batchmill, fresh_database, machine, requests

ARTIFACTS = Path(os.environ.get("BATCHMILL_TEST_ARTIFACTS", "test-artifacts")) / "load"
BATCHES = "/v1/messages/batches"


@dataclass
class Tally:
    """What all the clients saw."""

    submit_seconds: list[float] = field(default_factory=list)
    status_seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    batch_ids: list[str] = field(default_factory=list)
    ended: int = 0

    @property
    def served(self) -> int:
        return len(self.submit_seconds) + len(self.status_seconds)


async def _call(http: httpx.AsyncClient, tally: Tally, times: list[float], method: str,
                path: str, **kwargs: object) -> dict[str, object] | None:
    """One request; its latency when it succeeds, its failure in ``errors`` otherwise."""
    start = time.perf_counter()
    try:
        response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        tally.errors[f"{method} {type(exc).__name__}"] += 1
        return None
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        tally.errors[f"{method} {response.status_code}"] += 1
        return None
    times.append(elapsed)
    return msgspec.json.decode(response.content)  # type: ignore[no-any-return]


async def client(url: str, key: str, body: bytes, deadline: float, poll: float,
                 tally: Tally) -> None:
    headers = {"x-api-key": key, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        while time.monotonic() < deadline:
            created = await _call(http, tally, tally.submit_seconds, "POST", BATCHES,
                                  content=body)
            if created is None:
                await asyncio.sleep(poll)
                continue
            batch_id = str(created["id"])
            tally.batch_ids.append(batch_id)
            while time.monotonic() < deadline:
                await asyncio.sleep(poll)
                status = await _call(http, tally, tally.status_seconds, "GET",
                                     f"{BATCHES}/{batch_id}")
                if status is not None and status["processing_status"] == "ended":
                    tally.ended += 1
                    break


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else (values[0] if values else float("nan"))


def processed(database: str, since: float) -> int:
    """Requests the workers finished during the run."""
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM requests WHERE finished_at >= to_timestamp(%s)",
                           [since]).fetchone()
    return int(row[0]) if row else 0


def ms(values: list[float], q: int) -> str:
    return f"{percentile(values, q) * 1000:.1f} ms"


def report(args: argparse.Namespace, tally: Tally, seconds: float, done: int) -> str:
    errors = sum(tally.errors.values())
    rows = [
        ("machine", machine()),
        ("clients × duration", f"{args.clients} × {seconds:.0f} s, poll every {args.poll} s"),
        ("workers", f"{args.workers} processes × {args.concurrency} concurrency, "
                    f"simulator latency {args.latency} s"),
        ("HTTP requests served", f"{tally.served:,} ({tally.served / seconds:,.0f}/s)"),
        ("errors", f"{errors}" + (f" ({dict(tally.errors)})" if errors else "")),
        ("batches submitted / ended", f"{len(tally.batch_ids):,} × {args.batch_size} requests"
                                      f" / {tally.ended:,}"),
        ("requests processed by workers", f"{done:,} ({done / seconds:,.0f}/s)"),
        ("status calls", f"{len(tally.status_seconds):,}"),
        ("status latency p50 / p99", f"{ms(tally.status_seconds, 50)} / "
                                     f"{ms(tally.status_seconds, 99)}"),
        ("submit latency p50 / p99", f"{ms(tally.submit_seconds, 50)} / "
                                     f"{ms(tally.submit_seconds, 99)}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|",
                      *(f"| {name} | {value} |" for name, value in rows)]) + "\n"


async def load(url: str, key: str, args: argparse.Namespace) -> tuple[Tally, float]:
    body = msgspec.json.encode({"requests": requests(args.batch_size, words=40)})
    tally = Tally()
    start = time.monotonic()
    deadline = start + args.seconds
    await asyncio.gather(*(client(url, key, body, deadline, args.poll, tally)
                           for _ in range(args.clients)))
    return tally, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between status calls")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05, help="simulator seconds per call")
    args = parser.parse_args()
    with fresh_database() as database, \
            batchmill(database, workers=args.workers, concurrency=args.concurrency,
                      latency=args.latency) as bm:
        started = time.time()
        tally, seconds = asyncio.run(load(bm.api_url, bm.api_key, args))
        done = processed(database.libpq, started)
        with httpx.Client(base_url=bm.api_url, headers={"x-api-key": bm.api_key}) as http:
            for batch_id in tally.batch_ids:  # let the workers stop promptly
                http.post(f"{BATCHES}/{batch_id}/cancel")
    table = report(args, tally, seconds, done)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "latest.md").write_text(table)
    print(table)
    if tally.errors:
        raise SystemExit(f"{sum(tally.errors.values())} errors under load")


if __name__ == "__main__":
    main()
