"""Pure-function tests of the simulator's Messages logic: validation, tokens, response shape."""

from __future__ import annotations

import dataclasses
from typing import Any

import anthropic.types
import pytest

from app.simulator import SimulatorConfig
from app.simulator.app import error_body, error_type_for_status
from app.simulator.config import DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_SUMMARY_WORDS
from app.simulator.messages import (
    CHARS_PER_TOKEN,
    EMPTY_SUMMARY,
    InvalidRequestError,
    MessagesRequest,
    build_message,
    count_input_tokens,
    decode_request,
    estimate_tokens,
    new_id,
    validate_request,
)

LIMIT = DEFAULT_MAX_OUTPUT_TOKENS


def body(**overrides: Any) -> dict[str, Any]:
    """A minimal valid request body, with fields replaced or removed (value ``...``)."""
    base: dict[str, Any] = {
        "model": "claude-sim-1",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Please summarise this short text"}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def build(payload: dict[str, Any], summary_words: int = DEFAULT_SUMMARY_WORDS) -> dict[str, Any]:
    return build_message(
        validate_request(payload, max_output_tokens=LIMIT), message_id="msg_test", summary_words=summary_words
    )


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("x" * 401, 101), ("é" * 8, 2)],
)
def test_estimate_tokens_is_ceil_of_quarter_length(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_validate_accepts_string_and_block_content_and_ignores_extra_fields() -> None:
    payload = body(
        system=[{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Be kind."}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]},
            {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "Bye"},
        ],
        temperature=0.3,
        stop_sequences=["END"],
        metadata={"user_id": "u1"},
        top_k=5,
    )
    request = validate_request(payload, max_output_tokens=LIMIT)
    assert request == MessagesRequest(
        model="claude-sim-1",
        max_tokens=256,
        system=("Be terse.", "Be kind."),
        messages=(("user", ("Hello", "world")), ("assistant", ("Hi",)), ("user", ("Bye",))),
    )


def test_validate_allows_empty_final_assistant_prefill() -> None:
    payload = body(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}])
    assert validate_request(payload, max_output_tokens=LIMIT).messages[-1] == ("assistant", ("",))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "request body must be a JSON object"),
        (body(model=...), "model: Field required"),
        (body(model=""), "model: Input should be a non-empty string"),
        (body(model=7), "model: Input should be a non-empty string"),
        (body(max_tokens=...), "max_tokens: Field required"),
        (body(max_tokens="10"), "max_tokens: Input should be a valid integer"),
        (body(max_tokens=True), "max_tokens: Input should be a valid integer"),
        (body(max_tokens=1.5), "max_tokens: Input should be a valid integer"),
        (body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
        (body(max_tokens=LIMIT + 1), f"max_tokens: {LIMIT + 1} > {LIMIT}, which is the maximum allowed"),
        (body(stream=True), "stream: streaming is not supported"),
        (body(messages=...), "messages: Field required"),
        (body(messages="hi"), "messages: Input should be a valid list"),
        (body(messages=[]), "messages: at least one message is required"),
        (body(messages=["hi"]), "messages.0: Input should be a valid dictionary"),
        (body(messages=[{"role": "system", "content": "x"}]), "messages.0.role: Input should be 'user' or 'assistant'"),
        (body(messages=[{"content": "x"}]), "messages.0.role: Input should be 'user' or 'assistant'"),
        (body(messages=[{"role": "user"}]), "messages.0.content: Field required"),
        (body(messages=[{"role": "user", "content": 5}]), "messages.0.content: Input should be a valid string or"),
        (body(messages=[{"role": "user", "content": ""}]), "messages.0: all messages must have non-empty content"),
        (body(messages=[{"role": "user", "content": []}]), "messages.0: all messages must have non-empty content"),
        (
            body(messages=[{"role": "assistant", "content": ""}, {"role": "user", "content": "x"}]),
            "messages.0: all messages must have non-empty content",
        ),
        (body(messages=[{"role": "user", "content": ["x"]}]), "messages.0.content.0: Input should be a valid dict"),
        (body(messages=[{"role": "user", "content": [{"text": "x"}]}]), "messages.0.content.0.type: Field required"),
        (
            body(messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}]),
            "messages.0.content.0.type: unsupported content block type 'image'",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "text", "text": None}]}]),
            "messages.0.content.0.text: Input should be a valid string",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": ""}]},
                ]
            ),
            "messages.1.content.0.text: text content blocks must be non-empty",
        ),
        (body(system=3), "system: Input should be a valid string or a list of content blocks"),
        (body(system=[{"type": "text"}]), "system.0.text: Input should be a valid string"),
    ],
)
def test_validate_rejects_invalid_bodies_naming_the_field(payload: object, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_request(payload, max_output_tokens=LIMIT)
    assert str(caught.value).startswith(message)


def test_decode_request_parses_json_and_rejects_malformed_json() -> None:
    assert decode_request(b'{"a": [1, "b"]}') == {"a": [1, "b"]}
    for raw in (b"", b"{bad", b'{"model": "x"'):
        with pytest.raises(InvalidRequestError, match="invalid JSON"):
            decode_request(raw)


def test_build_message_is_a_valid_sdk_message() -> None:
    result = build(body(model="claude-opus-sim", system="Be terse."))
    message = anthropic.types.Message.model_validate(result)
    assert message.id == "msg_test"
    assert (message.type, message.role, message.model) == ("message", "assistant", "claude-opus-sim")
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert len(message.content) == 1 and message.content[0].type == "text"
    assert message.content[0].text == "Summary: Please summarise this short text"
    usage = message.usage
    assert usage.input_tokens == estimate_tokens("Be terse.") + estimate_tokens("Please summarise this short text")
    assert usage.output_tokens == estimate_tokens(message.content[0].text)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage.service_tier == "standard"


def test_build_message_is_deterministic_and_depends_on_the_input() -> None:
    first, second = build(body()), build(body())
    assert first == second
    other = build(body(messages=[{"role": "user", "content": "Something else entirely"}]))
    assert other["content"] != first["content"]


def test_summary_uses_first_words_of_the_last_user_message() -> None:
    words = [f"w{i}" for i in range(40)]
    payload = body(
        messages=[
            {"role": "user", "content": "old question"},
            {"role": "assistant", "content": "old answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": " ".join(words[:20])},
                    {"type": "text", "text": " ".join(words[20:])},
                ],
            },
            {"role": "assistant", "content": "The answer is"},
        ]
    )
    assert build(payload)["content"][0]["text"] == "Summary: " + " ".join(words[:DEFAULT_SUMMARY_WORDS])
    assert build(payload, summary_words=3)["content"][0]["text"] == "Summary: w0 w1 w2"


def test_whitespace_only_user_text_gets_placeholder_summary() -> None:
    assert build(body(messages=[{"role": "user", "content": "   "}]))["content"][0]["text"] == EMPTY_SUMMARY


@pytest.mark.parametrize("max_tokens", [1, 2, 5])
def test_text_longer_than_max_tokens_is_truncated(max_tokens: int) -> None:
    result = build(body(max_tokens=max_tokens))
    text = result["content"][0]["text"]
    assert len(text) == max_tokens * CHARS_PER_TOKEN
    assert "Summary: Please summarise this short text".startswith(text)
    assert result["stop_reason"] == "max_tokens"
    assert result["usage"]["output_tokens"] == max_tokens


def test_text_exactly_at_the_limit_is_not_truncated() -> None:
    text = "Summary: Please summarise this short text"
    exact = -(-len(text) // CHARS_PER_TOKEN)
    result = build(body(max_tokens=exact))
    assert result["content"][0]["text"] == text and result["stop_reason"] == "end_turn"
    assert result["usage"]["output_tokens"] == exact


def test_input_tokens_sum_every_text_block() -> None:
    request = validate_request(
        body(
            system="s" * 9,
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "a" * 4}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "c" * 12},
                {"role": "user", "content": "d" * 5},
            ],
        ),
        max_output_tokens=LIMIT,
    )
    assert count_input_tokens(request) == 3 + 1 + 1 + 3 + 2


def test_new_id_has_prefix_and_is_unique() -> None:
    ids = {new_id("req_") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("req_") and len(i) == 28 and i[4:].isalnum() for i in ids)


def test_error_envelope_matches_anthropic() -> None:
    assert error_body(429, "slow down", "req_1") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
        "request_id": "req_1",
    }
    expected = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        405: "invalid_request_error",
        413: "request_too_large",
        500: "api_error",
        503: "api_error",
        529: "overloaded_error",
    }
    assert {status: error_type_for_status(status) for status in expected} == expected


def test_config_defaults_are_frozen_and_validated() -> None:
    config = SimulatorConfig()
    assert config.latency_seconds == 0.0
    assert config.summary_words == DEFAULT_SUMMARY_WORDS
    assert config.model_default_max_output == DEFAULT_MAX_OUTPUT_TOKENS
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.latency_seconds = 1.0  # type: ignore[misc]
    for bad in (
        {"latency_seconds": -0.1},
        {"summary_words": 0},
        {"model_default_max_output": 0},
        {"max_request_bytes": 0},
    ):
        with pytest.raises(ValueError):
            SimulatorConfig(**bad)
