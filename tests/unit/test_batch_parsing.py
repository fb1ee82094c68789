"""Submission checks: the wire schema's limits, what check_batch adds, and the per-request
params problems that become errored results."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.batches import check_batch, decode_batch, params_error
from app.errors import InvalidRequest
from app.schemas import MAX_REQUESTS, BatchCreate


def req(custom_id: object = "a", params: object = None, **extra: object) -> dict[str, object]:
    return {"custom_id": custom_id, "params": params if params is not None else {"model": "m"},
            **extra}


def decode(body: object) -> BatchCreate:
    return decode_batch(msgspec.json.encode(body))


def test_valid_batch_keeps_order_params_and_extensions() -> None:
    batch = decode({"requests": [req("a"), req("b-2_C", {"model": "x"}, priority=5)],
                    "priority": 2, "metadata": {"team": "ops"}, "mode": "auto",
                    "callback_url": "https://example.com/hook"})
    errors = check_batch(batch)
    assert [r.custom_id for r in batch.requests] == ["a", "b-2_C"]
    assert msgspec.json.decode(batch.requests[1].params) == {"model": "x"}
    assert batch.requests[1].priority == 5
    assert len(errors) == 2 and all(e is not None for e in errors)  # no max_tokens, messages
    assert (batch.priority, batch.mode, batch.metadata) == (2, "auto", {"team": "ops"})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "body: Object missing required field `requests`"),
        ({"requests": []}, "requests: Expected `array` of length >= 1"),
        ({"requests": [req()] * (MAX_REQUESTS + 1)}, "requests: Expected `array` of length <= 100000"),
        ({"requests": [req(), "x"]}, "requests.1: Expected `object`"),
        ({"requests": [req("ok"), req("has space")]}, "requests.1.custom_id: Expected `str` matching"),
        ({"requests": [req("x" * 65)]}, "requests.0.custom_id"),
        ({"requests": [req(7)]}, "requests.0.custom_id: Expected `str`, got `int`"),
        ({"requests": [req()], "surprise": 1}, "body: Object contains unknown field `surprise`"),
        ({"requests": [req(extra_field=1)]}, "requests.0: Object contains unknown field"),
        ({"requests": [req()], "priority": 10**9}, "priority: Expected `int` <= 100"),
        ({"requests": [req(priority=-101)]}, "requests.0.priority"),
        ({"requests": [req()], "mode": "fast"}, "mode: Invalid enum value 'fast'"),
        ({"requests": [req()], "callback_url": "ftp://x"}, "callback_url"),
        ([], "body: Expected `object`, got `array`"),
    ],
)
def test_schema_rejects_what_anthropic_rejects(body: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        decode(body)
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"requests": [req("a"), req("b"), req("a")]},
         "requests.2.custom_id: duplicate custom_id 'a' (first used by requests.0)"),
        ({"requests": [req()], "metadata": {"blob": "x" * 20_000}}, "metadata: must be at most"),
        ({"requests": [req()], "callback_url": "https://"}, "callback_url"),
        ({"requests": [req(), {"custom_id": "b", "params": []}]},
         "requests.1.params: Expected `object`"),
        ({"requests": [{"custom_id": "a", "params": "hi"}]}, "requests.0.params"),
    ],
)
def test_check_batch_rejects_with_a_pointed_message(body: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_batch(decode(body))
    assert fragment in raised.value.message
    assert raised.value.status_code == 400 and raised.value.error_type == "invalid_request_error"


def test_malformed_json_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        decode_batch(b'{"requests": [')


GOOD: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 10,
                        "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({**GOOD, "model": ""}, "params.model"),
        ({k: v for k, v in GOOD.items() if k != "model"}, "params.model"),
        ({**GOOD, "max_tokens": 0}, "params.max_tokens"),
        ({**GOOD, "max_tokens": True}, "params.max_tokens"),
        ({k: v for k, v in GOOD.items() if k != "max_tokens"}, "params.max_tokens"),
        ({**GOOD, "messages": []}, "params.messages"),
        ({**GOOD, "messages": [{"role": "system", "content": "x"}]}, "params.messages.0.role"),
        ({**GOOD, "messages": [{"role": "user", "content": ""}]}, "params.messages.0.content"),
        ({**GOOD, "stream": True}, "params.stream"),
    ],
)
def test_params_problems_become_invalid_request_errors(params: dict[str, Any],
                                                        fragment: str) -> None:
    error = params_error(params)
    assert error is not None
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert fragment in error["error"]["message"]


def test_good_params_pass() -> None:
    assert params_error(GOOD) is None
    assert params_error({**GOOD, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi"}]}], "system": "be brief", "temperature": 0}) is None
