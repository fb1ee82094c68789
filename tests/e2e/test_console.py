"""The terminal commands (submit, status, list, results, cancel) as people run them: the real
``batchmill`` executable against separate API, worker and simulator processes."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.settings import DatabaseUrl
from tests import postgres
from tests.e2e.processes import (
    BATCHMILL,
    environment,
    free_port,
    process,
    run,
    wait_for_http,
)

WORKER_CONCURRENCY = 4
SIMULATOR_LATENCY = 0.05  # with 4 worker slots: at most 80 requests/s, so 300 take seconds


@dataclass
class Live:
    """A running API + worker + simulator over one database."""

    database: DatabaseUrl
    api_url: str
    server_env: dict[str, str]

    def key(self, tenant: str) -> str:
        created = run("keys", "create", "--tenant", tenant, env=self.server_env)
        assert created.returncode == 0, created.stderr
        return created.stdout.strip()

    def env(self, key: str) -> dict[str, str]:
        return environment(BATCHMILL_URL=self.api_url, BATCHMILL_API_KEY=key)


@pytest.fixture(scope="module")
def live(postgres_server_url: str, template_database: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    name = postgres.unique_name("batchmill_console")
    url = postgres.create_database(postgres_server_url, name, template=template_database)
    logs = tmp_path_factory.mktemp("console-logs")
    sim_port, api_port = free_port(), free_port()
    env = environment(BATCHMILL_DATABASE_URL=url, ANTHROPIC_API_KEY="sim-key",
                      ANTHROPIC_BASE_URL=f"http://127.0.0.1:{sim_port}",
                      BATCHMILL_WORKER_CONCURRENCY=str(WORKER_CONCURRENCY))
    try:
        with (process("simulator", "--port", str(sim_port), "--latency",
                      str(SIMULATOR_LATENCY), env=env, log=logs / "sim.log"),
              process("serve", "--port", str(api_port), env=env, log=logs / "api.log"),
              process("worker", env=env, log=logs / "worker.log")):
            api_url = f"http://127.0.0.1:{api_port}"
            wait_for_http(f"{api_url}/v1/messages/batches")
            wait_for_http(f"http://127.0.0.1:{sim_port}/")
            yield Live(database=DatabaseUrl(url), api_url=api_url, server_env=env)
    finally:
        postgres.drop_database(postgres_server_url, name)


def batchmill(*args: str, env: dict[str, str], stdin: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHMILL, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout, check=False)


def simple_lines(count: int, prefix: str = "doc") -> str:
    """``{id, title, text}`` lines, as in the bundled demo documents."""
    return "".join(json.dumps({"id": f"{prefix}-{i}", "title": f"Title {i}",
                               "text": f"Document {i} says hello."}) + "\n"
                   for i in range(count))


def results_of(jsonl: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsonl.splitlines() if line.strip()]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one ``batchmill: ...`` line and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchmill: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def test_submit_simple_lines_waits_and_downloads_results(live: Live, tmp_path: Path) -> None:
    env = live.env(live.key("simple"))
    source = tmp_path / "docs.jsonl"
    source.write_text(simple_lines(40))
    submitted = batchmill("submit", str(source), "--model", "claude-sonnet-4-5",
                          "--max-tokens", "100", "--system", "Be brief.", "--priority", "7",
                          "--metadata", '{"team": "search"}', "--wait", "--interval", "0.2",
                          env=env)
    assert submitted.returncode == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    assert batch_id.startswith("msgbatch_") and submitted.stdout == batch_id + "\n"
    assert "40 requests submitted; waiting" in submitted.stderr
    assert "40/40 done (100%): 40 succeeded, 0 errored" in submitted.stderr  # not a terminal
    assert f"{batch_id} ended after" in submitted.stderr
    assert ": 40 succeeded, 0 errored" in submitted.stderr and "\r" not in submitted.stderr

    with psycopg.connect(live.database.libpq) as conn:
        params = conn.execute("SELECT params FROM requests WHERE batch_id = %s AND "
                              "custom_id = 'doc-3'", (batch_id,)).fetchone()
        batch = conn.execute("SELECT priority, metadata FROM batches WHERE id = %s",
                             (batch_id,)).fetchone()
    assert params == ({"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
                       "messages": [{"role": "user", "content": "Document 3 says hello."}]},)
    assert batch == (7, {"team": "search"})

    to_stdout = batchmill("results", batch_id, env=env)
    assert to_stdout.returncode == 0, to_stdout.stderr
    lines = results_of(to_stdout.stdout)
    assert [line["custom_id"] for line in lines] == [f"doc-{i}" for i in range(40)]
    assert {line["result"]["type"] for line in lines} == {"succeeded"}
    assert {line["result"]["message"]["model"] for line in lines} == {"claude-sonnet-4-5"}

    target = tmp_path / "out" / "results.jsonl"
    target.parent.mkdir()
    to_file = batchmill("results", batch_id, "-o", str(target), env=env)
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == "" and f"40 results written to {target}" in to_file.stderr
    assert target.read_text() == to_stdout.stdout
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.jsonl"]


def test_submit_anthropic_lines_from_stdin_sends_them_unchanged(live: Live) -> None:
    env = live.env(live.key("anthropic"))
    requests = [{"custom_id": f"req_{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 50 + i, "temperature": 0.5,
        "messages": [{"role": "user", "content": f"Question {i}?"}]}} for i in range(30)]
    requests[0]["priority"] = 3
    stdin = "\n".join(json.dumps(r) for r in requests) + "\n\n"  # blank lines are skipped
    submitted = batchmill("submit", "-", "--model", "ignored-for-these-lines", "--wait",
                          "--interval", "0.2", env=env, stdin=stdin)
    assert submitted.returncode == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    assert "30 requests submitted" in submitted.stderr

    with psycopg.connect(live.database.libpq) as conn:
        stored = conn.execute("SELECT custom_id, params, priority FROM requests "
                              "WHERE batch_id = %s ORDER BY position", (batch_id,)).fetchall()
    assert [(c, p) for c, p, _ in stored] == [(r["custom_id"], r["params"]) for r in requests]
    assert stored[0][2] == 3

    lines = results_of(batchmill("results", batch_id, env=env).stdout)
    assert Counter(line["custom_id"] for line in lines) == Counter(
        r["custom_id"] for r in requests)
    assert all(line["result"]["type"] == "succeeded" for line in lines)


def test_status_and_list(live: Live) -> None:
    env = live.env(live.key("lister"))
    first = batchmill("submit", "-", env=env, stdin=simple_lines(5, "a")).stdout.strip()
    second = batchmill("submit", "-", env=env, stdin=simple_lines(3, "b")).stdout.strip()
    assert first.startswith("msgbatch_") and second.startswith("msgbatch_")

    waited = batchmill("status", second, "--wait", "--interval", "0.2", env=env)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.startswith(f"{second}  ended\n")
    assert "  requests  3: 3 succeeded, 0 errored" in waited.stdout
    assert f"batchmill results {second}" in waited.stdout

    as_json = batchmill("status", first, "--wait", "--json", "--interval", "0.2", env=env)
    assert as_json.returncode == 0, as_json.stderr
    batch = json.loads(as_json.stdout)
    assert batch["id"] == first and batch["processing_status"] == "ended"
    assert batch["request_counts"]["succeeded"] == 5

    listed = batchmill("list", env=env)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "DONE"]
    assert [row.split()[:5] for row in rows] == [[second, "ended", "3/3", "3", "0"],
                                                  [first, "ended", "5/5", "5", "0"]]
    limited = batchmill("list", "--limit", "1", "--json", env=env)
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == [second]


def test_cancel(live: Live) -> None:
    env = live.env(live.key("canceler"))
    batch_id = batchmill("submit", "-", env=env, stdin=simple_lines(600)).stdout.strip()
    canceled = batchmill("cancel", batch_id, env=env)
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.stdout.startswith(f"{batch_id} ") and " canceled" in canceled.stdout

    waited = batchmill("status", batch_id, "--wait", "--interval", "0.2", env=env)
    assert waited.returncode == 6, waited.stderr  # ended, but not every request succeeded
    lines = results_of(batchmill("results", batch_id, env=env).stdout)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"doc-{i}" for i in range(600))
    outcomes = Counter(line["result"]["type"] for line in lines)
    assert outcomes["canceled"] > 0 and outcomes["succeeded"] + outcomes["canceled"] == 600

    again = batchmill("cancel", batch_id, env=env)
    assert again.returncode == 0 and f"{batch_id} ended" in again.stdout


def test_ctrl_c_stops_waiting_not_the_batch(live: Live) -> None:
    env = live.env(live.key("impatient"))
    with subprocess.Popen([*BATCHMILL, "submit", "-", "--wait", "--interval", "0.2"],
                          env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as waiting:
        assert waiting.stdin and waiting.stdout and waiting.stderr
        waiting.stdin.write(simple_lines(300))
        waiting.stdin.close()
        batch_id = waiting.stdout.readline().strip()  # printed once the batch exists
        assert batch_id.startswith("msgbatch_")
        time.sleep(0.5)
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=30) == 130
        stderr = waiting.stderr.read()
    assert (f"batchmill: stopped waiting; {batch_id} keeps running. Watch it again with: "
            f"batchmill status {batch_id} --wait") in stderr
    assert "Traceback" not in stderr

    early = batchmill("results", batch_id, env=env)
    assert early.returncode == 1 and "still in_progress" in one_error_line(early)

    resumed = batchmill("status", batch_id, "--wait", "--interval", "0.2", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "300: 300 succeeded, 0 errored" in resumed.stdout


def test_progress_redraws_one_line_on_a_terminal(live: Live) -> None:
    env = live.env(live.key("terminal"))
    parent, child = pty.openpty()
    with subprocess.Popen([*BATCHMILL, "submit", "-", "--wait", "--interval", "0.1"],
                          env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=child) as proc:
        os.close(child)
        assert proc.stdin is not None
        proc.stdin.write(simple_lines(100).encode())
        proc.stdin.close()
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # drain the terminal while the command runs
            if select.select([parent], [], [], 0.5)[0]:
                try:
                    data = os.read(parent, 65536)
                except OSError:  # the command exited and closed the terminal
                    break
                if not data:
                    break
                shown += data
            elif proc.poll() is not None:
                break
        os.close(parent)
        assert proc.wait(timeout=30) == 0
    text = shown.decode()
    redraws = [part for part in text.split("\r") if "/100" in part]
    assert len(redraws) >= 2, text
    assert "100/100" in redraws[-1] and "100 succeeded" in redraws[-1]
    assert any(bar in text for bar in ("█", "#")) and "req/s" in text
    assert "ended after" in text


def test_errors_are_one_line_with_exit_codes(live: Live, tmp_path: Path) -> None:
    env = live.env(live.key("errors"))
    ended = batchmill("submit", "-", "--wait", env=env, stdin=simple_lines(1)).stdout.strip()

    bad_key = live.env("bm-not-a-key")
    for args in (["list"], ["status", ended], ["results", ended], ["cancel", ended],
                 ["submit", "-"]):
        result = batchmill(*args, env=bad_key, stdin=simple_lines(2))
        assert result.returncode == 3, (args, result.stderr)
        assert "invalid x-api-key" in one_error_line(result)
    no_key = batchmill("list", env=environment(BATCHMILL_URL=live.api_url))
    assert no_key.returncode == 3 and "no API key" in one_error_line(no_key)

    for args in (["status", "msgbatch_nope"], ["results", "msgbatch_nope"],
                 ["cancel", "msgbatch_nope"]):
        result = batchmill(*args, env=env)
        assert result.returncode == 4, (args, result.stderr)
        assert one_error_line(result) == "batchmill: Message batch msgbatch_nope not found."
    other_tenant = batchmill("status", ended, env=live.env(live.key("someone-else")))
    assert other_tenant.returncode == 4

    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["status", ended], ["submit", "-"]):
        result = batchmill(*args, "--url", nowhere, env=env, stdin=simple_lines(2))
        assert result.returncode == 5, (args, result.stderr)
        assert one_error_line(result) == f"batchmill: cannot reach {nowhere}: connection refused"

    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(simple_lines(2) + '{"id": "doc-2", "text": \n' + simple_lines(2, "x"))
    result = batchmill("submit", str(malformed), env=env)
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"batchmill: {malformed}, line 3: invalid JSON")
    for stdin, message in (
            ('{"id": "a b", "text": "x"}\n', "line 1: id 'a b' must be"),
            (simple_lines(1) + simple_lines(1), "line 2: custom_id 'doc-0' repeats line 1"),
            ('{"custom_id": "a", "params": {}, "extra": 1}\n', "unknown field `extra`"),
            ('{"question": "?"}\n', 'expected {"custom_id", "params"}'),
            ("\n", "no requests")):
        result = batchmill("submit", "-", env=env, stdin=stdin)
        assert result.returncode == 2 and message in one_error_line(result), result.stderr
    missing = batchmill("submit", str(tmp_path / "missing.jsonl"), env=env)
    assert missing.returncode == 2 and "cannot read" in one_error_line(missing)
    bad_flag = batchmill("submit", "-", "--metadata", "[1]", env=env, stdin=simple_lines(1))
    assert bad_flag.returncode == 2 and "--metadata" in one_error_line(bad_flag)

    refused = batchmill("submit", "-", "--priority", "500", env=env, stdin=simple_lines(1))
    assert refused.returncode == 1 and "priority" in one_error_line(refused)

    # Nothing but the one good batch was created by all of the above.
    listed = batchmill("list", "--json", env=env)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [ended]
