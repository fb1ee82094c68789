"""Submission validation: Anthropic's limits, with messages that name the offending index."""
from __future__ import annotations

import pytest

from app.batches import MAX_REQUESTS, parse_batch
from app.errors import InvalidRequest


def req(custom_id: object = "a", params: object = None) -> dict[str, object]:
    return {"custom_id": custom_id, "params": params if params is not None else {"model": "m"}}


def test_valid_batch_keeps_order_and_params() -> None:
    batch = parse_batch({"requests": [req("a"), req("b-2_C", {"model": "x", "max_tokens": 5})]})
    assert [r.custom_id for r in batch.requests] == ["a", "b-2_C"]
    assert batch.requests[1].params == {"model": "x", "max_tokens": 5}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({}, "requests: Field required"),
        ({"requests": []}, "between 1 and 100,000"),
        ({"requests": [req()] * (MAX_REQUESTS + 1)}, "got 100,001"),
        ({"requests": [req(), "x"]}, "requests.1: must be an object"),
        ({"requests": [req("ok"), req("has space")]}, "requests.1.custom_id"),
        ({"requests": [req("x" * 65)]}, "requests.0.custom_id"),
        ({"requests": [req(7)]}, "requests.0.custom_id"),
        ({"requests": [req("a"), req("b"), req("a")]}, "requests.2.custom_id: duplicate"),
        ({"requests": [{"custom_id": "a", "params": []}]}, "requests.0.params"),
    ],
)
def test_invalid_batches_are_rejected_with_a_pointed_message(body: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_batch(body)
    assert fragment in raised.value.message
    assert raised.value.status_code == 400 and raised.value.error_type == "invalid_request_error"
