"""Running systems for the suite: a Batchmill stack whose workers start when the scenario says
so (after its batch is queued), the simulator's own counters, memory and progress sampling."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx

from app.settings import DatabaseUrl
from bench.harness import rss_mb
from tests.e2e.processes import environment, free_port, process, run, wait_for_http

#: Where every process of the suite writes its output.
LOGS = Path(os.environ.get("BATCHMILL_BENCH_LOGS", "test-artifacts/bench/logs"))


@dataclass
class Stack:
    """Simulator + API over one database; workers are added with ``start_workers``."""

    env: dict[str, str]
    api_url: str
    api_key: str
    api_pid: int
    simulator_url: str
    processes: contextlib.ExitStack
    worker_pids: list[int] = field(default_factory=list)

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.api_url, api_key=self.api_key, max_retries=2,
                                   timeout=600)

    def start_workers(self, count: int, concurrency: int, **env: str) -> None:
        worker_env = {**self.env, "BATCHMILL_WORKER_CONCURRENCY": str(concurrency), **env}
        for _ in range(count):
            log = LOGS / f"batchmill-worker-{len(self.worker_pids)}.log"
            proc = self.processes.enter_context(process("worker", env=worker_env, log=log))
            self.worker_pids.append(proc.pid)

    def simulator_stats(self) -> dict[str, Any]:
        return simulator_stats(self.simulator_url)

    def cost_by_batch(self) -> dict[str, float]:
        """``GET /v1/reports/cost?by=batch``: USD per batch id, from llm_calls."""
        response = httpx.get(f"{self.api_url}/v1/reports/cost",
                             params={"by": "batch", "since": "1d"},
                             headers={"x-api-key": self.api_key}, timeout=60)
        response.raise_for_status()
        return {row["key"]: float(row["cost"]) for row in response.json()["data"]}


@contextlib.contextmanager
def batchmill_stack(database: DatabaseUrl, *, simulator_args: tuple[str, ...] = (),
                    **env: str) -> Iterator[Stack]:
    """Simulator and API over ``database`` (migrated), with a fresh tenant key; ``env`` is
    given to every Batchmill process (workers too)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    sim_port, api_port = free_port(), free_port()
    base = environment(BATCHMILL_DATABASE_URL=database.url, ANTHROPIC_API_KEY="bench",
                       ANTHROPIC_BASE_URL=f"http://127.0.0.1:{sim_port}", **env)
    created = run("keys", "create", "--tenant", "bench", env=base)
    if created.returncode != 0:
        raise RuntimeError(f"batchmill keys create failed: {created.stderr.strip()}")
    with contextlib.ExitStack() as stack:
        stack.enter_context(process("simulator", "--port", str(sim_port), *simulator_args,
                                    env=base, log=LOGS / "batchmill-simulator.log"))
        api = stack.enter_context(process("serve", "--port", str(api_port), env=base,
                                          log=LOGS / "batchmill-api.log"))
        wait_for_http(f"http://127.0.0.1:{api_port}/health/live", timeout=60)
        wait_for_http(f"http://127.0.0.1:{sim_port}/_simulator/stats", timeout=60)
        yield Stack(base, f"http://127.0.0.1:{api_port}", created.stdout.strip(), api.pid,
                    f"http://127.0.0.1:{sim_port}", stack)


def simulator_stats(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/_simulator/stats", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    return rss_mb(pid)[1]


@dataclass
class Progress:
    """(seconds since start, requests done) samples of one batch, taken by ``follow``."""

    samples: list[tuple[float, int]] = field(default_factory=list)

    def seconds(self) -> float:
        return self.samples[-1][0] if self.samples else 0.0

    def steady_rate(self, total: int, low: float = 0.2, high: float = 0.8) -> float:
        """Requests/s between the samples where ``low`` and ``high`` of ``total`` were done:
        the rate once running, without the ramp-up and the last in-flight calls."""
        first = next((s for s in self.samples if s[1] >= low * total), None)
        last = next((s for s in self.samples if s[1] >= high * total), None)
        if first is None or last is None or last[0] <= first[0]:
            return total / self.seconds() if self.seconds() else 0.0
        return (last[1] - first[1]) / (last[0] - first[0])


def follow(done: Callable[[], int], total: int, *, timeout: float, poll: float = 0.2) -> Progress:
    """Sample ``done()`` until it reaches ``total``; TimeoutError after ``timeout`` s."""
    progress, start = Progress(), time.monotonic()
    while True:
        count = done()
        progress.samples.append((time.monotonic() - start, count))
        if count >= total:
            return progress
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{count:,} of {total:,} done after {timeout:.0f} s")
        time.sleep(poll)


def batch_done(client: anthropic.Anthropic, batch_id: str) -> Callable[[], int]:
    """Requests of a Batchmill batch no longer processing (all of them once it has ended)."""

    def done() -> int:
        counts = client.messages.batches.retrieve(batch_id).request_counts
        return counts.succeeded + counts.errored + counts.canceled + counts.expired

    return done


class LoadSampler:
    """The 1-minute load average every ``every`` seconds, in a daemon thread."""

    def __init__(self, every: float = 15.0) -> None:
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.loads.append(os.getloadavg()[0])
            self._stop.wait(every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
