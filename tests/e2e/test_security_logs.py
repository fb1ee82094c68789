"""No secret and no prompt in the logs: a full run with real API, worker and simulator
processes at the default log level, with provider faults and client errors so the processes
have something to say, then every log is searched for the API key, the provider key, the
database password and the text of the prompts."""
from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.settings import DatabaseUrl
from tests.e2e.processes import process
from tests.e2e.test_lifecycle import live

REQUESTS = 40


def with_password(url: DatabaseUrl, password: str) -> DatabaseUrl:
    """The same database with a password in the URL (the test server trusts local
    connections, so it is sent, if asked for, and ignored)."""
    parts = urlsplit(url.url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    return DatabaseUrl(urlunsplit(parts._replace(netloc=netloc)))


def test_logs_hold_no_key_secret_or_prompt(database_url: DatabaseUrl, tmp_path: Path) -> None:
    marker = f"PromptMarker{secrets.token_hex(6)}"
    provider_key = f"sk-ant-test-{secrets.token_urlsafe(18)}"
    password = f"pw{secrets.token_hex(8)}"
    faults = {"BATCHMILL_SIMULATOR_RATE_500": "0.15", "BATCHMILL_SIMULATOR_RATE_429": "0.1",
              "BATCHMILL_SIMULATOR_RETRY_AFTER": "0", "BATCHMILL_RETRY_BASE_SECONDS": "0.05",
              "BATCHMILL_RETRY_MAX_SECONDS": "0.2", "BATCHMILL_PROVIDER_POLL_SECONDS": "1",
              "BATCHMILL_SIMULATOR_BATCH_ERROR_RATE": "0.2"}
    with live(with_password(database_url, password), tmp_path, ANTHROPIC_API_KEY=provider_key,
              **faults) as bm:
        assert "BATCHMILL_LOG_LEVEL" not in bm.env  # the default level
        # One model without a price, so the worker warns about each of its calls.
        requests = [{"custom_id": f"r-{i}", "params": {
            "model": "claude-haiku-4-5" if i % 4 else "claude-unpriced-test", "max_tokens": 32,
            "system": f"{marker} system prompt",
            "messages": [{"role": "user", "content": f"{marker} document {i}"}]}}
            for i in range(REQUESTS)]
        requests.append({"custom_id": "bad", "params": {"messages": [{"content": marker}]}})
        with process("worker", "--concurrency", "8", env=bm.env, log=tmp_path / "worker.log"):
            realtime = bm.client.messages.batches.create(  # type: ignore[arg-type]
                requests=requests, extra_body={"metadata": {"note": marker}})
            provider = bm.client.messages.batches.create(  # type: ignore[arg-type]
                requests=requests[:10], extra_body={"mode": "provider_batch"})
            for batch_id in (realtime.id, provider.id):
                ended = bm.wait_ended(batch_id, timeout=90)
                assert ended.request_counts.processing == 0
                assert len(list(bm.client.messages.batches.results(batch_id))) > 0
            assert bm.client.messages.batches.retrieve(realtime.id) \
                .request_counts.succeeded == REQUESTS
        with httpx.Client(base_url=bm.api_url) as http:  # client errors the API may log
            assert http.get("/v1/messages/batches",
                            headers={"x-api-key": bm.key + "x"}).status_code == 401
            assert http.post("/v1/messages/batches", headers={"x-api-key": bm.key},
                             content=b'{"requests": [' + marker.encode()).status_code == 400
            assert http.get("/v1/messages/batches/msgbatch_unknown",
                            headers={"authorization": f"Bearer {bm.key}"}).status_code == 404
            signed_in = http.post("/ui/sign-in", data={"api_key": bm.key})  # no CSRF token
            assert signed_in.status_code == 403

    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.glob("*.log")}
    assert set(logs) >= {"api.log", "worker.log", "sim.log"}
    # The unpriced model's warnings prove the default level logs and these are the logs.
    assert "claude-unpriced-test" in logs["worker.log"], "nothing was logged: nothing checked"
    secrets_ = {"API key": bm.key[3:], "provider key": provider_key,
                "database password": password, "prompt text": marker}
    for name, log in logs.items():
        for what, value in secrets_.items():
            assert value not in log, f"{what} in {name}"
