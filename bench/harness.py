"""Benchmark plumbing: a fresh migrated database and Batchmill's real processes.

Benchmarks print figures; they assert nothing about speed (machines are noisy)."""
from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic

from app.db import migrate
from app.settings import DatabaseUrl
from tests import postgres
from tests.e2e.processes import environment, free_port, process, run, wait_for_http

SERVER_URL = os.environ.get("BATCHMILL_BENCH_DATABASE_URL",
                            "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> str:
    return f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}"


@contextlib.contextmanager
def fresh_database() -> Iterator[DatabaseUrl]:
    name = postgres.unique_name("batchmill_bench")
    url = DatabaseUrl(postgres.create_database(SERVER_URL, name))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        postgres.drop_database(SERVER_URL, name)


@dataclass
class Running:
    api_url: str
    api_key: str
    database: DatabaseUrl
    api_pid: int
    simulator_url: str

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.api_url, api_key=self.api_key,
                                   max_retries=0, timeout=600)


@contextlib.contextmanager
def batchmill(database: DatabaseUrl, *, workers: int = 1, concurrency: int = 16,
              latency: float = 0.0, simulator_args: tuple[str, ...] = (),
              logs: Path = Path("/tmp"), before_workers: Callable[[dict[str, str]], None]
              | None = None) -> Iterator[Running]:
    """Simulator, API and ``workers`` worker processes over ``database``;
    ``before_workers(env)`` runs once the API is up and before any worker starts."""
    sim_port, api_port = free_port(), free_port()
    env = environment(BATCHMILL_DATABASE_URL=database.url, ANTHROPIC_API_KEY="bench",
                      ANTHROPIC_BASE_URL=f"http://127.0.0.1:{sim_port}",
                      BATCHMILL_WORKER_CONCURRENCY=str(concurrency),
                      BATCHMILL_SIMULATOR_LATENCY=str(latency))
    key = run("keys", "create", "--tenant", "bench", env=env).stdout.strip()
    with contextlib.ExitStack() as stack:
        stack.enter_context(process("simulator", "--port", str(sim_port), *simulator_args,
                                    env=env, log=logs / "bench-sim.log"))
        api = stack.enter_context(process("serve", "--port", str(api_port), env=env,
                                          log=logs / "bench-api.log"))
        wait_for_http(f"http://127.0.0.1:{api_port}/v1/messages/batches")
        wait_for_http(f"http://127.0.0.1:{sim_port}/")
        if before_workers is not None:
            before_workers(env)
        for i in range(workers):
            stack.enter_context(process("worker", env=env, log=logs / f"bench-worker-{i}.log"))
        yield Running(f"http://127.0.0.1:{api_port}", key, database, api.pid,
                      f"http://127.0.0.1:{sim_port}")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def requests(count: int, words: int = 60) -> list[dict[str, object]]:
    body = " ".join(f"word{i % 97}" for i in range(words))
    return [{"custom_id": f"r-{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 128,
        "messages": [{"role": "user", "content": f"Summarise document {i}: {body}"}]}}
        for i in range(count)]


def wait_ended(client: anthropic.Anthropic, batch_id: str, poll: float = 0.05) -> float:
    """Block until the batch ends; return the monotonic time it was seen ended."""
    while client.messages.batches.retrieve(batch_id).processing_status != "ended":
        time.sleep(poll)
    return time.monotonic()
