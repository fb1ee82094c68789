"""Prometheus metrics from a live API and worker: scraped before, during and after a batch,
the counters move by exactly what the batch did (checked against Postgres)."""
from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.settings import DatabaseUrl
from tests.e2e.processes import free_port, process, wait_for_http
from tests.e2e.test_lifecycle import live

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_by_what_the_batch_did(database_url: DatabaseUrl, tmp_path: Path) -> None:
    health = free_port()
    with live(database_url, tmp_path, latency=0.05) as bm, \
            process("worker", env={**bm.env, "BATCHMILL_WORKER_HTTP_PORT": str(health),
                                   "BATCHMILL_LOG_LEVEL": "INFO"},
                    log=tmp_path / "worker.log"):
        api, worker = f"{bm.api_url}/metrics", f"http://127.0.0.1:{health}/metrics"
        wait_for_http(f"http://127.0.0.1:{health}/health/live")
        before_api, before_worker = scrape(api), scrape(worker)
        requests = [{"custom_id": f"ok-{i}", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 40,
            "messages": [{"role": "user", "content": f"metrics document {i}"}]}}
            for i in range(60)]
        requests += [{"custom_id": f"bad-{i}", "params": {"model": "claude-haiku-4-5"}}
                     for i in range(3)]
        batch_id = bm.client.messages.batches.create(requests=requests).id  # type: ignore[arg-type]
        during = scrape(worker)
        bm.wait_ended(batch_id)
        missing = httpx.get(f"{bm.api_url}/v1/messages/batches/msgbatch_nope",
                            headers={"x-api-key": bm.key})
        assert missing.status_code == 404
        deadline = time.monotonic() + 10
        while value(after_worker := scrape(worker), "batchmill_requests_finished_total",
                    status="succeeded") < 60:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        after_api = scrape(api)

        def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        # API: one batch, 63 requests (3 errored at submission), the calls it answered.
        assert moved(after_api, before_api, "batchmill_batches_created_total",
                     mode="realtime") == 1
        assert moved(after_api, before_api, "batchmill_requests_submitted_total",
                     mode="realtime") == 63
        assert moved(after_api, before_api, "batchmill_requests_finished_total",
                     status="errored") == 3
        assert moved(after_api, before_api, "batchmill_http_requests_total", method="POST",
                     route="/v1/messages/batches", status="200") == 1
        assert moved(after_api, before_api, "batchmill_http_requests_total", method="GET",
                     route="/v1/messages/batches/{batch_id}", status="404") == 1
        assert value(after_api, "batchmill_queue_jobs", queue="requests", state="runnable") == 0
        # Worker: 60 calls, their tokens and cost exactly as recorded in llm_calls.
        assert 0 <= value(during, "batchmill_requests_finished_total", status="succeeded") <= 60
        assert moved(after_worker, before_worker, "batchmill_requests_finished_total",
                     status="succeeded") == 60
        assert moved(after_worker, before_worker, "batchmill_provider_calls_total",
                     model="claude-haiku-4-5", outcome="ok") == 60
        assert moved(after_worker, before_worker, "batchmill_provider_call_duration_seconds_count",
                     model="claude-haiku-4-5") == 60
        assert moved(after_worker, before_worker, "batchmill_queue_wait_seconds_count") == 60
        (input_tokens, output_tokens, cost), = bm.sql(
            "SELECT sum(input_tokens), sum(output_tokens), sum(cost) FROM llm_calls")
        assert moved(after_worker, before_worker, "batchmill_tokens_total",
                     model="claude-haiku-4-5", kind="input") == input_tokens
        assert moved(after_worker, before_worker, "batchmill_tokens_total",
                     model="claude-haiku-4-5", kind="output") == output_tokens
        spent = moved(after_worker, before_worker, "batchmill_cost_usd_total",
                      model="claude-haiku-4-5")
        assert abs(Decimal(str(spent)) - cost) < Decimal("1e-9")
    # Structured logs: JSON lines, each worker line about a request names it.
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
             if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_requests = [line for line in lines if "request_id" in line]
    assert about_requests and all({"batch_id", "attempt"} <= set(line)
                                  for line in about_requests)
