"""Run the baseline as real processes from a benchmark, and its rate-limit scenario.

``baseline()`` starts uvicorn serving ``bench.baseline.api:app`` and ``workers``
Celery workers (prefork pool, ``concurrency`` processes each, hostnames
``w{i}@%h``) against Redis DB 15, flushing that DB before and after.
"""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.baseline.processes import descendants, environment, free_port, spawn, stop
from bench.baseline.settings import REDIS_URL

#: Seconds the processes get to start, and to exit after SIGTERM before SIGKILL.
START_TIMEOUT = 60.0
STOP_GRACE = 15.0
#: The ``batchmill`` console script of this virtualenv (runs the simulator).
BATCHMILL = str(Path(sys.executable).with_name("batchmill"))


@dataclass
class BaselineHandle:
    """A running baseline: its API's URL, its processes, and a small client for it."""

    url: str
    api_pid: int
    worker_pids: list[int]
    http: httpx.Client = field(repr=False)
    spawn_workers: Callable[[int], list[int]] = field(repr=False, default=lambda count: [])

    def start_workers(self, count: int) -> None:
        """``count`` more Celery workers (configured as the first ones), once they answer."""
        self.worker_pids += self.spawn_workers(count)

    def pids(self) -> list[int]:
        """Every baseline process: API, worker main processes and their prefork children."""
        mains = [self.api_pid, *self.worker_pids]
        return mains + [child for pid in mains for child in descendants(pid)]

    def submit(self, requests: list[dict[str, Any]]) -> str:
        """``POST /batches``; returns the batch id."""
        response = self.http.post("/batches", json={"requests": requests})
        response.raise_for_status()
        return str(response.json()["id"])

    def status(self, batch_id: str) -> dict[str, Any]:
        """``GET /batches/{id}``: processing_status and request_counts."""
        response = self.http.get(f"/batches/{batch_id}")
        response.raise_for_status()
        return dict(response.json())

    def wait_done(self, batch_id: str, timeout: float, poll: float = 0.25) -> dict[str, Any]:
        """Poll until every request has a result line (succeeded or errored); the final status.

        Raises TimeoutError otherwise (e.g. tasks lost with a killed worker never end)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(batch_id)
            if status["processing_status"] == "ended":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"baseline batch {batch_id} not done after {timeout}s: {status}")
            time.sleep(poll)

    def run_scenario(self, requests: list[dict[str, Any]], timeout: float = 900) -> dict[str, Any]:
        """Submit ``requests`` as one batch and wait until each succeeded or failed for good.

        ``seconds`` runs from just before the submit call (the seed enqueues inside it)
        until the status poll that saw the batch ended."""
        started = time.monotonic()
        final = self.wait_done(self.submit(requests), timeout)
        counts = final["request_counts"]
        return {"requests": len(requests), "seconds": round(time.monotonic() - started, 3),
                "succeeded": counts["succeeded"], "failed": counts["errored"]}

    def results(self, batch_id: str) -> list[dict[str, Any]]:
        """``GET /batches/{id}/results``, parsed."""
        response = self.http.get(f"/batches/{batch_id}/results")
        response.raise_for_status()
        return [json.loads(line) for line in response.content.splitlines()]


def flush_redis() -> None:
    """Empty the baseline's Redis DB (queues, results, Celery metadata)."""
    with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
        client.flushdb()


def _wait_ready(url: str, hostnames: set[str], procs: list[Any], logs: Path) -> None:
    """Until the API answers /health and every worker answers a Celery ping."""
    from bench.baseline.celery_app import app  # the parent needs Celery only from here on

    deadline = time.monotonic() + START_TIMEOUT
    api_ok, pending = False, set(hostnames)
    while not api_ok or pending:
        dead = [proc.args for proc in procs if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"baseline process exited during start: {dead}; logs in {logs}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"baseline not ready after {START_TIMEOUT}s (api={api_ok}, "
                               f"workers pending={sorted(pending)}); logs in {logs}")
        if not api_ok:
            with contextlib.suppress(httpx.TransportError):
                api_ok = httpx.get(f"{url}/health", timeout=1).status_code == 200
        if pending:
            for reply in app.control.ping(destination=sorted(pending), timeout=0.5):
                pending -= set(reply)
        time.sleep(0.1)


@contextlib.contextmanager
def baseline(sim_url: str, *, workers: int = 3, concurrency: int = 1,
             rate_limit: str = "800/m", pool: str = "prefork",
             logs: Path | None = None) -> Iterator[BaselineHandle]:
    """The seed pipeline calling the simulator at ``sim_url``, ready to use; all stopped on exit.

    ``rate_limit`` "" turns Celery's rate limit off; ``pool`` is Celery's execution pool
    (the seed's prefork: one call in flight per process; ``threads``: ``concurrency`` calls
    in one process). Process output goes to ``logs`` (default: a new temporary directory,
    kept)."""
    logs = logs or Path(tempfile.mkdtemp(prefix="baseline-"))
    flush_redis()
    port = free_port()
    env = environment(ANTHROPIC_BASE_URL=sim_url, ANTHROPIC_API_KEY="baseline",
                      BASELINE_RATE_LIMIT=rate_limit)
    url = f"http://127.0.0.1:{port}"
    procs = [spawn(["uvicorn", "bench.baseline.api:app", "--host", "127.0.0.1", "--port", str(port),
                    "--log-level", "warning", "--no-access-log"],
                   env=env, log=logs / "baseline-api.log")]

    def spawn_workers(count: int) -> list[int]:
        names = [f"w{i}" for i in range(len(procs) - 1, len(procs) - 1 + count)]
        for name in names:
            # Celery's default log level (WARNING), like Batchmill's workers: no line per task.
            procs.append(spawn(["celery", "-A", "bench.baseline.celery_app", "worker",
                                "--pool", pool, "--concurrency", str(concurrency),
                                "-n", f"{name}@%h", "--loglevel", "WARNING"],
                               env=env, log=logs / f"baseline-worker-{name}.log"))
        _wait_ready(url, {f"{name}@{socket.gethostname()}" for name in names}, procs, logs)
        return [proc.pid for proc in procs[-count:]] if count else []

    try:
        pids = spawn_workers(workers)
        with httpx.Client(base_url=url, timeout=600) as http:
            yield BaselineHandle(url, procs[0].pid, pids, http, spawn_workers)
    finally:
        stop(procs, grace=STOP_GRACE)
        flush_redis()


def run_ratelimit_scenario(sim_url: str, requests: list[dict[str, Any]], *, workers: int = 3,
                           concurrency: int = 1, rate_limit: str = "800/m",
                           timeout: float = 900, logs: Path | None = None) -> dict[str, Any]:
    """A fresh baseline runs ``requests`` as one batch to the end: {requests, seconds, succeeded,
    failed}. 429s and the achieved rate are for the caller to read from the simulator's stats."""
    with baseline(sim_url, workers=workers, concurrency=concurrency, rate_limit=rate_limit,
                  logs=logs) as handle:
        return handle.run_scenario(requests, timeout)


@contextlib.contextmanager
def simulator_process(args: Sequence[str] = (), *, log: Path | None = None) -> Iterator[str]:
    """``batchmill simulator ARGS`` on a free loopback port until exit; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log or Path(tempfile.mkdtemp(prefix="baseline-sim-")) / "simulator.log"
    with log.open("wb") as out:
        sim = subprocess.Popen([BATCHMILL, "simulator", "--port", str(port), *args],
                               env=environment(), stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{url}/_simulator/stats", timeout=1).raise_for_status()
                break
            if sim.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        stop([sim], grace=STOP_GRACE)
