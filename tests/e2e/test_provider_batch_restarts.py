"""Mode provider_batch survives its worker: killed (SIGKILL) while the provider batch is open at
the provider, and again while its results are being recorded, the batch still completes with
each custom_id exactly once, one provider batch and one recorded call per request."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from app.settings import DatabaseUrl
from tests.e2e.processes import process
from tests.e2e.test_chaos import FAST_RESCUE, record
from tests.e2e.test_lifecycle import Live, live

REQUESTS = 10_000


def wait_for(bm: Live, query: str, timeout: float = 60, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not bm.sql(query)[0][0]:
        assert time.monotonic() < deadline, f"timed out waiting for: {query}"
        time.sleep(every)


def test_worker_killed_while_open_and_while_recording_results(database_url: DatabaseUrl,
                                                              tmp_path: Path) -> None:
    with live(database_url, tmp_path, BATCHMILL_SIMULATOR_BATCH_SECONDS="3",
              BATCHMILL_PROVIDER_POLL_SECONDS="1", **FAST_RESCUE) as bm:
        batch_id = bm.client.messages.batches.create(requests=[  # type: ignore[arg-type]
            {"custom_id": f"r-{i}", "params": {
                "model": "claude-haiku-4-5", "max_tokens": 50,
                "messages": [{"role": "user", "content": f"document number {i}"}]}}
            for i in range(REQUESTS)], extra_body={"mode": "provider_batch"}).id

        with process("worker", env=bm.env, log=tmp_path / "victim-open.log") as victim:
            wait_for(bm, "SELECT count(*) = 1 FROM provider_batches WHERE status = 'submitted'")
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        with process("worker", env=bm.env, log=tmp_path / "victim-recording.log") as victim:
            wait_for(bm, "SELECT processing_count < %d FROM batches" % REQUESTS, every=0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        recorded_before_kill = REQUESTS - bm.sql("SELECT processing_count FROM batches")[0][0]
        assert 0 < recorded_before_kill < REQUESTS, "the kill came after the import ended"

        with process("worker", env=bm.env, log=tmp_path / "survivor.log"):
            ended = bm.wait_ended(batch_id, timeout=120)
        assert ended.request_counts.succeeded == REQUESTS
        ids = [line.custom_id for line in bm.client.messages.batches.results(batch_id)]
        assert sorted(ids) == sorted(f"r-{i}" for i in range(REQUESTS))  # each exactly once
        (calls, via_batch, cost), = bm.sql(
            "SELECT count(*), count(*) FILTER (WHERE via_provider_batch), sum(cost)"
            " FROM llm_calls")
        assert calls == via_batch == REQUESTS
        assert bm.sql("SELECT cost FROM batches")[0][0] == cost
        assert bm.sql("SELECT count(*) FROM provider_batches")[0][0] == 1
        record("provider-batch-restarts", {
            "requests": REQUESTS, "kills": 2, "recorded_before_second_kill": recorded_before_kill,
            "llm_calls_rows": calls, "provider_batches": 1, "lost": REQUESTS - len(set(ids)),
            "simulator_batches_created": _batches_created(bm)})
        assert _batches_created(bm) == 1  # never submitted twice


def _batches_created(bm: Live) -> int:
    """Message Batches the simulator (the provider) was sent."""
    listed = httpx.get(bm.env["ANTHROPIC_BASE_URL"] + "/v1/messages/batches",
                       params={"limit": 1000}, headers={"x-api-key": "sim"}, timeout=5)
    return len(listed.json()["data"])
