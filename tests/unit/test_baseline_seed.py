"""The benchmark baseline (seed design) behaves like the seed: API over Redis, one task per request.

Skipped unless the ``bench`` extra is installed; Redis and Celery workers are faked."""
from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("celery")
pytest.importorskip("fastapi")
pytest.importorskip("redis")

import anthropic  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from bench.baseline import api, celery_app, settings, store  # noqa: E402


class FakeRedis:
    """The few Redis commands the baseline uses, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.ttls: dict[str, int] = {}

    def ping(self) -> bool:
        return True

    def rpush(self, key: str, *values: str) -> int:
        self.lists.setdefault(key, []).extend(v.encode() for v in values)
        return len(self.lists[key])

    def expire(self, key: str, seconds: int) -> bool:
        self.ttls[key] = seconds
        return True

    def lrange(self, key: str, start: int, end: int) -> list[bytes]:
        return list(self.lists.get(key, []))

    def set(self, key: str, value: str, ex: int) -> bool:
        self.values[key], self.ttls[key] = value.encode(), ex
        return True

    def mget(self, keys: list[str]) -> list[bytes | None]:
        return [self.values.get(key) for key in keys]


@pytest.fixture
def redis(monkeypatch: pytest.MonkeyPatch) -> FakeRedis:
    fake = FakeRedis()
    monkeypatch.setattr(store, "connection", lambda: fake)
    return fake


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(celery_app.call_claude, "apply_async",
                        lambda args, **_: calls.append(tuple(args)))
    return calls


@pytest.fixture
def client(redis: FakeRedis, enqueued: list[tuple[Any, ...]]) -> Iterator[TestClient]:
    with TestClient(api.app) as test_client:
        yield test_client


def items(count: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"r-{i}", "params": {"model": "m", "max_tokens": 1, "messages": []}}
            for i in range(count)]


def test_submit_records_ids_and_enqueues_one_task_per_request(
        client: TestClient, redis: FakeRedis, enqueued: list[tuple[Any, ...]]) -> None:
    batch_id = client.post("/batches", json={"requests": items(3)}).json()["id"]
    assert redis.lists[settings.ids_key(batch_id)] == [b"r-0", b"r-1", b"r-2"]
    assert redis.ttls[settings.ids_key(batch_id)] == settings.RESULT_TTL_SECONDS
    assert enqueued == [(batch_id, f"r-{i}", items(3)[i]["params"]) for i in range(3)]
    assert client.post("/batches", json={"requests": []}).status_code == 422


def test_status_counts_every_result_key_and_results_stream_in_order(
        client: TestClient, redis: FakeRedis) -> None:
    batch_id = client.post("/batches", json={"requests": items(3)}).json()["id"]
    store.save(batch_id, "r-2", store.succeeded("r-2", {"id": "msg"}))
    store.save(batch_id, "r-0", store.errored("r-0", ValueError("bad")))
    status = client.get(f"/batches/{batch_id}").json()
    assert status["processing_status"] == "in_progress"
    assert status["request_counts"] == {"processing": 1, "succeeded": 1, "errored": 1}
    lines = [json.loads(line) for line in client.get(f"/batches/{batch_id}/results").text.splitlines()]
    assert [line["custom_id"] for line in lines] == ["r-0", "r-2"]
    store.save(batch_id, "r-1", store.succeeded("r-1", {"id": "msg"}))
    assert client.get(f"/batches/{batch_id}").json()["processing_status"] == "ended"
    assert client.get("/batches/batch_nope").status_code == 404


def test_task_keeps_the_seeds_retry_and_ack_settings() -> None:
    task = celery_app.call_claude
    assert task.rate_limit == settings.RATE_LIMIT
    assert task.max_retries == settings.MAX_RETRIES
    assert task.retry_backoff is True and task.retry_jitter is True
    assert set(task.autoretry_for) == {anthropic.RateLimitError, anthropic.InternalServerError,
                                       anthropic.APIConnectionError}
    assert celery_app.app.conf.task_acks_late is False


def test_task_stores_the_answer_and_a_final_failure(
        monkeypatch: pytest.MonkeyPatch, redis: FakeRedis) -> None:
    message = SimpleNamespace(to_dict=lambda mode: {"id": "msg_1", "content": []})
    fake = SimpleNamespace(messages=SimpleNamespace(create=lambda **params: message))
    monkeypatch.setattr(celery_app, "claude", lambda: fake)
    celery_app.call_claude("b1", "r-0", {"model": "m"})
    saved = json.loads(redis.values[settings.result_key("b1", "r-0")])
    assert saved == {"custom_id": "r-0", "result": {"type": "succeeded",
                                                    "message": {"id": "msg_1", "content": []}}}
    celery_app.call_claude.on_failure(RuntimeError("boom"), "task", ("b1", "r-1", {}), {}, None)
    failed = json.loads(redis.values[settings.result_key("b1", "r-1")])
    assert failed["result"]["type"] == "errored" and failed["result"]["error"]["message"] == "boom"
