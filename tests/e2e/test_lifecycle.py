"""Cancel, expiry, retention and graceful shutdown with live worker processes."""
from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import psycopg
import pytest

from app.settings import DatabaseUrl
from tests.e2e.processes import environment, free_port, process, run, wait_for_http


@dataclass
class Live:
    client: anthropic.Anthropic
    database: DatabaseUrl
    env: dict[str, str]
    api_url: str
    key: str
    logs: Path

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database.libpq, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def submit(self, count: int, prefix: str = "r") -> str:
        return self.client.messages.batches.create(requests=[  # type: ignore[arg-type]
            {"custom_id": f"{prefix}-{i}", "params": {
                "model": "claude-haiku-4-5", "max_tokens": 50,
                "messages": [{"role": "user", "content": f"{prefix} number {i}"}]}}
            for i in range(count)]).id

    def wait_running(self, count: int, timeout: float = 20) -> None:
        """Until ``count`` requests are in flight."""
        deadline = time.monotonic() + timeout
        while self.sql("SELECT count(*) FROM requests WHERE status = 'running'")[0][0] < count:
            assert time.monotonic() < deadline, f"{count} requests never ran at once"
            time.sleep(0.05)

    def wait_ended(self, batch_id: str, timeout: float = 60) -> anthropic.types.messages.MessageBatch:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "ended":
                return batch
            time.sleep(0.1)
        raise AssertionError(f"{batch_id} did not end in {timeout}s")


@contextlib.contextmanager
def live(database_url: DatabaseUrl, tmp_path: Path, *, latency: float = 0.0,
         **env_values: str) -> Iterator[Live]:
    """Simulator and API processes; workers are started by the test."""
    sim_port, api_port = free_port(), free_port()
    env = environment(**{"BATCHMILL_DATABASE_URL": database_url.url,
                         "ANTHROPIC_API_KEY": "sim",
                         "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{sim_port}",
                         "BATCHMILL_HEARTBEAT_SECONDS": "1", **env_values})
    key = run("keys", "create", "--tenant", "live", env=env).stdout.strip()
    with (process("simulator", "--port", str(sim_port), "--latency", str(latency), env=env,
                  log=tmp_path / "sim.log"),
          process("serve", "--port", str(api_port), env=env, log=tmp_path / "api.log")):
        wait_for_http(f"http://127.0.0.1:{api_port}/v1/messages/batches")
        wait_for_http(f"http://127.0.0.1:{sim_port}/")
        api_url = f"http://127.0.0.1:{api_port}"
        yield Live(anthropic.Anthropic(base_url=api_url, api_key=key, max_retries=0),
                   database_url, env, api_url, key, tmp_path)


def test_cancel_while_workers_run(database_url: DatabaseUrl, tmp_path: Path) -> None:
    with live(database_url, tmp_path, latency=0.3) as bm, \
            process("worker", "--concurrency", "4", env=bm.env, log=tmp_path / "w.log"):
        batch_id = bm.submit(200)
        deadline = time.monotonic() + 30
        while bm.client.messages.batches.retrieve(batch_id).request_counts.succeeded < 8:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        canceled = bm.client.messages.batches.cancel(batch_id)
        assert canceled.cancel_initiated_at is not None
        assert canceled.processing_status in ("canceling", "ended")
        assert canceled.request_counts.processing <= 4  # only the ones in flight
        ended = bm.wait_ended(batch_id)
        counts = ended.request_counts
        assert counts.succeeded + counts.canceled == 200 and counts.errored == 0
        assert 8 <= counts.succeeded <= 8 + 4 + 4  # nothing started after the cancel
        results = list(bm.client.messages.batches.results(batch_id))
        assert sorted(r.custom_id for r in results) == sorted(f"r-{i}" for i in range(200))
        assert sum(r.result.type == "canceled" for r in results) == counts.canceled
        calls = bm.sql("SELECT count(*) FROM llm_calls WHERE batch_id = %s", batch_id)[0][0]
        assert calls == counts.succeeded  # canceled requests never reached the provider
        assert bm.sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")[0][0] == 0


def test_expiry_ends_the_batch_and_expires_what_is_left(database_url: DatabaseUrl,
                                                        tmp_path: Path) -> None:
    with live(database_url, tmp_path, BATCHMILL_EXPIRE_EVERY_SECONDS="1") as bm:
        done = bm.submit(3, prefix="done")
        stale = bm.submit(50, prefix="stale")
        # The stale batch's 24 hours are over before any worker got to it.
        bm.sql("UPDATE batches SET expires_at = now() - interval '1 second' WHERE id = %s", stale)
        with process("worker", env=bm.env, log=tmp_path / "w.log"):
            ended = bm.wait_ended(stale, timeout=30)
            assert ended.request_counts.expired == 50 and ended.request_counts.processing == 0
            assert bm.wait_ended(done).request_counts.succeeded == 3
        results = list(bm.client.messages.batches.results(stale))
        assert [r.result.type for r in results] == ["expired"] * 50
        assert bm.sql("SELECT count(*) FROM llm_calls WHERE batch_id = %s", stale)[0][0] == 0


def test_retention_archives_old_batches_keeping_usage_and_cost(database_url: DatabaseUrl,
                                                               tmp_path: Path) -> None:
    # Retention of ~2 seconds instead of 29 days.
    with live(database_url, tmp_path, BATCHMILL_RETENTION_DAYS=str(2 / 86400),
              BATCHMILL_ARCHIVE_EVERY_SECONDS="1") as bm:
        with process("worker", env=bm.env, log=tmp_path / "w.log"):
            batch_id = bm.submit(20)
            ended = bm.wait_ended(batch_id)
            assert ended.request_counts.succeeded == 20
            deadline = time.monotonic() + 30
            while bm.client.messages.batches.retrieve(batch_id).archived_at is None:
                assert time.monotonic() < deadline, "not archived"
                time.sleep(0.2)
        archived = bm.client.messages.batches.retrieve(batch_id)
        assert archived.request_counts.succeeded == 20  # counts stay
        with pytest.raises(anthropic.NotFoundError, match="archived"):
            list(bm.client.messages.batches.results(batch_id))
        left = bm.sql("SELECT count(*) FILTER (WHERE params IS NOT NULL OR result IS NOT NULL),"
                      " sum(input_tokens), sum(cost) FROM requests WHERE batch_id = %s", batch_id)
        kept_prompts, tokens, cost = left[0]
        assert kept_prompts == 0 and tokens and cost  # prompts and outputs gone, usage kept
        calls = bm.sql("SELECT count(*), sum(cost) FROM llm_calls WHERE batch_id = %s", batch_id)
        assert calls[0] == (20, cost)


def test_sigterm_lets_in_flight_calls_finish_then_exits(database_url: DatabaseUrl,
                                                        tmp_path: Path) -> None:
    with live(database_url, tmp_path, latency=1.0, BATCHMILL_SHUTDOWN_GRACE_SECONDS="10") as bm:
        batch_id = bm.submit(40)
        with process("worker", "--concurrency", "8", env=bm.env, log=tmp_path / "w.log") as w:
            bm.wait_running(8)
            w.send_signal(signal.SIGTERM)
            assert w.wait(timeout=15) == 0
        counts = bm.sql("SELECT status, count(*) FROM requests GROUP BY status")
        by_status = dict(counts)
        assert by_status.get("running", 0) == 0  # every in-flight call was recorded
        assert by_status["succeeded"] >= 8 and by_status["queued"] == 40 - by_status["succeeded"]
        with process("worker", env=bm.env, log=tmp_path / "w2.log"):
            assert bm.wait_ended(batch_id).request_counts.succeeded == 40


def test_shutdown_past_the_grace_period_requeues_in_flight_work(database_url: DatabaseUrl,
                                                                tmp_path: Path) -> None:
    with live(database_url, tmp_path, latency=5.0, BATCHMILL_SHUTDOWN_GRACE_SECONDS="0.5") as bm:
        batch_id = bm.submit(10)
        with process("worker", "--concurrency", "10", env=bm.env, log=tmp_path / "w.log") as w:
            bm.wait_running(10)
            w.send_signal(signal.SIGTERM)
            assert w.wait(timeout=10) == 0
        by_status = dict(bm.sql("SELECT status, count(*) FROM requests GROUP BY status"))
        assert by_status == {"queued": 10}  # nothing left 'running' with no job to run it
        todo = bm.sql("SELECT count(*) FROM procrastinate_jobs"
                      " WHERE status = 'todo' AND task_name = 'batchmill.process_request'")
        assert todo[0][0] == 10  # exactly one queue row each
        with process("worker", "--concurrency", "10", env=bm.env, log=tmp_path / "w2.log"):
            assert bm.wait_ended(batch_id, timeout=30).request_counts.succeeded == 10
