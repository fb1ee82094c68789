"""The queue-depth query KEDA scales the workers on (helm/batchmill/values.yaml,
``worker.keda.query``), run verbatim against the migrated schema: it must count the runnable
and running jobs of the requests queue, and nothing else."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from app.queue import QUEUE
from app.settings import DatabaseUrl

VALUES = Path(__file__).resolve().parents[2] / "helm" / "batchmill" / "values.yaml"

# (queue, status, scheduled_at as an SQL expression, how many rows, counted by KEDA?)
JOBS = [
    (QUEUE, "todo", "NULL", 3, True),                         # queued, runnable now
    (QUEUE, "todo", "now() - interval '1 minute'", 1, True),  # a retry whose time has come
    (QUEUE, "todo", "now() + interval '1 hour'", 2, False),   # a retry waiting for later
    (QUEUE, "doing", "NULL", 2, True),                        # in flight on a worker
    (QUEUE, "succeeded", "NULL", 4, False),
    (QUEUE, "failed", "NULL", 1, False),
    (QUEUE, "cancelled", "NULL", 1, False),
    (QUEUE, "aborted", "NULL", 1, False),
    ("maintenance", "todo", "NULL", 2, False),                # periodic jobs never scale workers
    ("maintenance", "doing", "NULL", 1, False),
]


def keda_query() -> str:
    return yaml.safe_load(VALUES.read_text())["worker"]["keda"]["query"]


@pytest.fixture
def conn(database_url: DatabaseUrl) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url.libpq, autocommit=True) as conn:
        yield conn


def insert_jobs(conn: psycopg.Connection) -> int:
    """Insert JOBS; return how many of them KEDA should count."""
    expected = 0
    for queue, status, scheduled_at, count, counted in JOBS:
        for _ in range(count):
            conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, status, scheduled_at, args)"
                f" VALUES (%s, 'batchmill.test', %s, {scheduled_at}, '{{}}')", (queue, status))
        expected += count if counted else 0
    return expected


def test_values_hold_the_query_for_the_requests_queue() -> None:
    query = keda_query()
    assert "FROM queue_depth_v1" in query  # the view the metrics read too
    assert f"queue_name = '{QUEUE}'" in query


def test_keda_query_counts_runnable_and_running_request_jobs(conn: psycopg.Connection) -> None:
    assert conn.execute(keda_query()).fetchall() == [(0,)]
    expected = insert_jobs(conn)
    assert expected == 6
    rows = conn.execute(keda_query()).fetchall()
    # KEDA's postgresql scaler reads one row of one numeric column.
    assert rows == [(expected,)]


def test_keda_query_uses_an_index(conn: psycopg.Connection) -> None:
    """KEDA runs the query every pollingInterval on a table that can hold millions of
    finished rows: it must be answerable from an index."""
    insert_jobs(conn)
    conn.execute("ANALYZE procrastinate_jobs")
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + keda_query()))
    assert "Seq Scan on procrastinate_jobs" not in plan, plan
