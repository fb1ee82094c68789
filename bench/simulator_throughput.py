"""Measure the Claude API simulator's throughput on one core.

Runs ``serve`` in a child process pinned to CPU 0 and drives it from this
process (pinned to CPU 1 when available) with a minimal keep-alive HTTP/1.1
client over raw asyncio streams on uvloop, so the load generator is not the
bottleneck the way a full HTTP client would be. The server runs on the default
asyncio loop (as when started from tests or the demo) unless ``--server-uvloop``.

    .venv/bin/python bench/simulator_throughput.py [--connections 64] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import time

import msgspec
import uvloop

from app.simulator import SimulatorConfig, serve

BODY = msgspec.json.encode(
    {
        "model": "claude-sim",
        "max_tokens": 256,
        "system": "You are a terse summariser.",
        "messages": [{"role": "user", "content": "Summarise: " + "the quick brown fox jumps over the lazy dog " * 20}],
    }
)


def _run_server(sock: socket.socket, latency: float, use_uvloop: bool) -> None:
    """Child process: serve the simulator on ``sock`` using one CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    runner = uvloop.run if use_uvloop else asyncio.run
    runner(serve(SimulatorConfig(latency_seconds=latency), sockets=[sock]))


async def _worker(port: int, deadline: float, latencies: list[float], statuses: dict[int, int]) -> None:
    """One keep-alive connection sending requests back to back until ``deadline``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: bench\r\n"
        b"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


def _cpu_seconds(pid: int) -> float:
    """User+system CPU time of ``pid`` (Linux /proc), to show how busy the server was."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(port: int, connections: int, seconds: float, server_pid: int) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    warmup_deadline = time.perf_counter() + 1.0
    await asyncio.gather(*(_worker(port, warmup_deadline, [], {}) for _ in range(connections)))
    cpu_before = _cpu_seconds(server_pid)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(port, deadline, latencies, statuses) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    server_busy = (_cpu_seconds(server_pid) - cpu_before) / elapsed
    latencies.sort()
    print(f"connections={connections} duration={elapsed:.2f}s requests={len(latencies)} statuses={statuses}")
    print(f"throughput={len(latencies) / elapsed:,.0f} req/s (server process CPU busy {server_busy:.0%})")
    print(
        f"latency p50={statistics.median(latencies) * 1000:.2f}ms "
        f"p99={latencies[int(len(latencies) * 0.99)] * 1000:.2f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency", type=float, default=0.0, help="simulator latency_seconds")
    parser.add_argument("--server-uvloop", action="store_true", help="run the server on uvloop")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, like the tests' sockets
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    server = multiprocessing.get_context("fork").Process(
        target=_run_server, args=(sock, args.latency, args.server_uvloop), daemon=True
    )
    server.start()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    try:
        uvloop.run(_drive(port, args.connections, args.seconds, server.pid or 0))  # fastest client loop available
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
