"""Reading at scale: list 10,000 batches page by page through the SDK, and stream the results
of a 100,000-request batch from the API process (time, lines/s, the API's memory).

    make bench-api      (or: python -m bench.api_reads [--batches N] [--requests N])
"""
from __future__ import annotations

import argparse
import time

import httpx
import msgspec
import psycopg

from app import ids
from app.settings import DatabaseUrl
from bench.harness import batchmill, fresh_database, machine, requests, rss_mb

# A realistic stored answer (~700 bytes of JSON), as a worker would have recorded it.
MESSAGE = msgspec.json.encode({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Summary: " + "lorem ipsum dolor sit amet " * 16}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 120, "output_tokens": 110, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0}}).decode()


def seed_batches(url: str, count: int) -> None:
    """``count`` ended one-request batches of the bench tenant, created a millisecond apart."""
    now = int(time.time() * 1000)
    batch_ids = [f"msgbatch_{ids.ulid(now - count + i)}" for i in range(count)]
    with psycopg.connect(url) as conn:
        tenant = conn.execute("SELECT id FROM tenants WHERE name = 'bench'").fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO batches (id, tenant_id, request_count, processing_count, succeeded_count,"
            " ended_at) SELECT unnest(%s::text[]), %s, 1, 0, 1, now()", [batch_ids, tenant])


def finish_all(url: str, batch_id: str) -> None:
    """Record every request of the batch as succeeded (what the workers would have done)."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM procrastinate_jobs")
        conn.execute("UPDATE requests SET status = 'succeeded', result = %s::jsonb, attempts = 1,"
                     " finished_at = now() WHERE batch_id = %s", [MESSAGE, batch_id])
        conn.execute("UPDATE batches SET processing_count = 0, succeeded_count = request_count,"
                     " ended_at = now() WHERE id = %s", [batch_id])


def list_pages(database: DatabaseUrl, batches: int) -> None:
    with batchmill(database, workers=0) as bm:
        client = bm.client()
        seed_batches(database.libpq, batches)
        for limit in (20, 100, 1000):
            start = time.perf_counter()
            seen = sum(1 for _ in client.messages.batches.list(limit=limit))
            elapsed = time.perf_counter() - start
            pages = -(-seen // limit)
            print(f"list {seen:,} batches, limit {limit}: {elapsed:.2f} s "
                  f"({pages} pages, {elapsed / pages * 1000:.1f} ms/page)")


def stream_results(database: DatabaseUrl, count: int) -> None:
    with batchmill(database, workers=0) as bm:
        batch = bm.client().messages.batches.create(requests=requests(count))  # type: ignore[arg-type]
        _, submit_peak = rss_mb(bm.api_pid)
    finish_all(database.libpq, batch.id)

    # A fresh API process, so its memory figures are the streaming alone.
    with batchmill(database, workers=0) as bm:
        before, _ = rss_mb(bm.api_pid)
        start = time.perf_counter()
        lines = size = 0
        with httpx.stream("GET", f"{bm.api_url}/v1/messages/batches/{batch.id}/results",
                          headers={"x-api-key": bm.api_key}, timeout=600) as response:
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)
        elapsed = time.perf_counter() - start
        after, peak = rss_mb(bm.api_pid)
    print(f"results of a {count:,}-request batch: {lines:,} lines, {size / 1e6:.0f} MB in "
          f"{elapsed:.2f} s = {lines / elapsed:,.0f} lines/s; API RSS {before:.0f} MB before, "
          f"{after:.0f} MB after, peak {peak:.0f} MB")
    print(f"(for reference: the API process that accepted the submission peaked at "
          f"{submit_peak:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_database() as database:
        list_pages(database, args.batches)
        stream_results(database, args.requests)


if __name__ == "__main__":
    main()
