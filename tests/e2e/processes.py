"""Run ``batchmill`` commands as real processes for end-to-end tests."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.serving import loopback_socket

BATCHMILL = [str(Path(sys.executable).with_name("batchmill"))]


def free_port() -> int:
    with loopback_socket() as sock:
        return int(sock.getsockname()[1])


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BATCHMILL_", "ANTHROPIC_"))}
    env["BATCHMILL_WORKER_HTTP_PORT"] = "0"  # many workers on one machine: any free port
    env.update(values)
    return env


def run(*args: str, env: dict[str, str], timeout: float = 120,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHMILL, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def wait_for_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def process(*args: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``batchmill ARGS``; on exit send SIGTERM and require a clean, prompt exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen([*BATCHMILL, *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise AssertionError(f"batchmill {args[0]} ignored SIGTERM") from None
