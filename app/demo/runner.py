"""``batchmill demo``: the product's main job, end to end, on embedded defaults.

With no BATCHMILL_DATABASE_URL an embedded Postgres starts in ./.batchmill; with no
ANTHROPIC_API_KEY the Claude simulator starts. Then: migrate, start the API and a worker,
submit the bundled documents through the official SDK, show progress, print a summary.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import msgspec

from app.api.app import serve as serve_api
from app.db import migrate
from app.db.engine import create_engine
from app.keys import create_key
from app.reports import cost_report, render, since_day
from app.serving import base_url, loopback_socket
from app.settings import AnthropicSettings, Settings
from app.simulator import SimulatorConfig
from app.simulator import serve as serve_simulator
from app.sql import queries
from app.worker.app import run_worker

DOCUMENTS = Path(__file__).with_name("documents.jsonl")
DEMO_FOLDER = Path(".batchmill")
MODEL = "claude-haiku-4-5"
SYSTEM = "You are a precise analyst. Summaries are factual, neutral and free of filler."
# Long input first, the instruction last (Anthropic's prompting advice for documents).
PROMPT = "# {title}\n\n{text}\n\nSummarise this document in two sentences."
POLL_SECONDS = 0.5


def load_documents(count: int = 0) -> list[dict[str, str]]:
    lines = DOCUMENTS.read_bytes().splitlines()
    docs = [msgspec.json.decode(line) for line in lines if line.strip()]
    return docs[:count] if count else docs


def batch_requests(docs: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": doc["id"],
            "params": {
                "model": MODEL,
                "max_tokens": 200,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": PROMPT.format(**doc)}],
            },
        }
        for doc in docs
    ]


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    if settings.database_url:
        yield settings
        return
    from app.embedded import embedded_postgres

    print(f"No BATCHMILL_DATABASE_URL: starting an embedded Postgres in {DEMO_FOLDER}/ ...")
    with embedded_postgres(DEMO_FOLDER.resolve()) as url:
        yield dataclasses.replace(settings, database_url=url)


@contextlib.asynccontextmanager
async def background(*coroutines: Any) -> AsyncIterator[None]:
    """Run services while the body runs; cancel them (gracefully) afterwards."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def progress_line(batch: Any, started: float) -> str:
    counts = batch.request_counts
    total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
    done = total - counts.processing
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-9)
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done "
            f"({counts.succeeded} ok, {counts.errored} errored) {rate:6.1f} req/s")


async def demo(settings: Settings, *, count: int, concurrency: int | None) -> int:
    # A local demo may send webhooks to a receiver on this machine.
    settings = dataclasses.replace(settings, webhooks=dataclasses.replace(
        settings.webhooks, allow_private=True))
    sim_task: list[Any] = []
    if not settings.anthropic.api_key:
        sim_sock = loopback_socket()
        sim_url = base_url(sim_sock)
        print(f"No ANTHROPIC_API_KEY: using the built-in Claude simulator at {sim_url} "
              "(simulated answers, no real calls, no cost).")
        settings = dataclasses.replace(
            settings, anthropic=AnthropicSettings(api_key="simulator", base_url=sim_url))
        sim_task.append(serve_simulator(SimulatorConfig(latency_seconds=0.05), sockets=[sim_sock]))
    else:
        print(f"Using Claude at {settings.anthropic.base_url or 'api.anthropic.com'}: "
              "this demo makes real, billed calls.")

    engine = create_engine(settings.database, pool_size=settings.db_pool_size)
    async with engine.begin() as conn:
        api_key = await create_key(conn, "demo")
    api_sock = loopback_socket()
    api_url = base_url(api_sock)
    docs = load_documents(count)
    async with background(
        *sim_task,
        serve_api(settings, sockets=[api_sock], engine=engine),
        run_worker(dataclasses.replace(  # in-process: no health port of its own
            settings, worker=dataclasses.replace(settings.worker, http_port=None)),
            concurrency=concurrency, install_signal_handlers=False),
    ):
        await asyncio.sleep(0.2)
        client = anthropic.AsyncAnthropic(base_url=api_url, api_key=api_key)
        print(f"Batchmill API at {api_url}; submitting {len(docs)} documents to summarise ...")
        clock = time.monotonic()
        batch = await client.messages.batches.create(requests=batch_requests(docs))  # type: ignore[arg-type]
        print(f"Batch {batch.id} accepted in {time.monotonic() - clock:.2f} s.")
        interactive = sys.stdout.isatty()
        last_print = 0.0
        while batch.processing_status != "ended":
            await asyncio.sleep(POLL_SECONDS)
            batch = await client.messages.batches.retrieve(batch.id)
            if interactive:
                print("\r" + progress_line(batch, clock), end="", flush=True)
            elif time.monotonic() - last_print >= 2:
                print(progress_line(batch, clock), flush=True)
                last_print = time.monotonic()
        print(("\r" if interactive else "") + progress_line(batch, clock))
        elapsed = time.monotonic() - clock
        results = [r async for r in await client.messages.batches.results(batch.id)]
        async with engine.connect() as conn:
            usage = (await conn.execute(queries["batch_usage"], {"batch_id": batch.id})).one()
            report = render(await cost_report(conn, by="model", since=since_day("1d")),
                            by="model", fmt="table")
    await engine.dispose()

    counts = batch.request_counts
    cost = "unknown (no price for the model)" if usage.cost is None else f"${usage.cost:.4f}"
    print("\nDone.")
    print(f"  requests     {len(results)} results: {counts.succeeded} succeeded, "
          f"{counts.errored} errored, {counts.canceled} canceled, {counts.expired} expired")
    print(f"  tokens       {usage.input_tokens:,} input, {usage.output_tokens:,} output "
          f"over {usage.calls} provider calls")
    print(f"  cost         {cost} at {MODEL} list prices")
    print(f"  throughput   {len(results) / elapsed:.1f} requests/s end to end ({elapsed:.1f} s)")
    print("\n`batchmill report cost --by model --since 1d` on this database:\n")
    print(report)
    samples = [r for r in results if r.result.type == "succeeded"][:2]
    for r in samples:
        text = " ".join(block.text for block in r.result.message.content if block.type == "text")
        print(f"\n  {r.custom_id}: {text[:300]}")
    return 0 if counts.succeeded == len(docs) else 1


def run_demo(settings: Settings, *, count: int = 0, concurrency: int | None = None) -> int:
    with database(settings) as configured:
        print("Migrating the database ...")
        migrate.upgrade(configured.database)
        return asyncio.run(demo(configured, count=count, concurrency=concurrency))
