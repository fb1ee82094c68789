"""Ids, backoff, usage parsing, settings and the named-SQL loader."""
from __future__ import annotations

import random
import re

import pytest

from app import ids
from app.llm.backoff import MAX_DELAY_SECONDS, retry_delay
from app.llm.outcome import Usage
from app.settings import DatabaseUrl, Settings
from app.sql import QUERY_TEXT, parse


def test_batch_ids_sort_by_creation_time() -> None:
    earlier, later = ids.ulid(1_700_000_000_000), ids.ulid(1_700_000_000_001)
    assert len(earlier) == 26 and earlier < later
    assert ids.batch_id().startswith("msgbatch_")
    assert len({ids.batch_id() for _ in range(1000)}) == 1000


def test_backoff_grows_exponentially_within_bounds_and_honours_retry_after() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(MAX_DELAY_SECONDS, 2 ** (attempt - 1))
        assert ceiling / 2 <= retry_delay(attempt, rng=rng) <= ceiling
    assert retry_delay(1, retry_after=42, rng=rng) == 42
    assert MAX_DELAY_SECONDS / 2 <= retry_delay(12, retry_after=1, rng=rng) <= MAX_DELAY_SECONDS


def test_usage_reads_cache_breakdown_and_defaults_writes_to_five_minutes() -> None:
    usage = Usage.from_message({
        "input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 7,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}})
    assert (usage.cache_creation_5m_tokens, usage.cache_creation_1h_tokens) == (10, 20)
    assert usage.cache_read_tokens == 7 and usage.cache_creation_tokens == 30
    legacy = Usage.from_message({"input_tokens": 1, "output_tokens": 1,
                                 "cache_creation_input_tokens": 9})
    assert (legacy.cache_creation_5m_tokens, legacy.cache_creation_1h_tokens) == (9, 0)
    assert Usage.from_message(None) == Usage()


def test_one_database_url_serves_every_driver() -> None:
    url = DatabaseUrl("postgresql://u:p@h:5/db?sslmode=require")
    assert url.asyncpg == "postgresql+asyncpg://u:p@h:5/db?sslmode=require"
    assert url.psycopg.startswith("postgresql+psycopg://")
    assert DatabaseUrl("postgresql+asyncpg://h/db").libpq == "postgresql://h/db"
    with pytest.raises(ValueError):
        DatabaseUrl("mysql://h/db")
    with pytest.raises(RuntimeError):
        _ = Settings().database


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHMILL_WORKER_CONCURRENCY", "3")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    settings = Settings.from_env()
    assert settings.worker.concurrency == 3
    assert settings.anthropic.base_url == "http://127.0.0.1:1"


def test_named_sql_blocks() -> None:
    assert parse("-- a --\nSELECT 1;\n\n-- b_2 --\n-- text\nSELECT 2;") == {
        "a": "SELECT 1;", "b_2": "-- text\nSELECT 2;"}
    assert {"request_claim", "request_finish", "requests_insert_and_defer"} <= set(QUERY_TEXT)
    for name, sql in QUERY_TEXT.items():
        # ":name::type" is not read as a bind parameter: casts are written CAST(:name AS type)
        assert not re.search(r"(?<![:\w]):\w+::", sql), name
