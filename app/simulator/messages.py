"""Wire-level logic of the simulated ``POST /v1/messages``, free of any HTTP.

Everything here is a pure function of its arguments (except ``new_id``), so the
request validation, token accounting and response shape can be unit-tested
without a server, and so the same rules can later back the Message Batches
endpoints. Invalid input raises ``InvalidRequestError``; mapping it to an HTTP
error envelope is the HTTP layer's job.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

import msgspec

#: Rough token size used by every estimate: ~4 characters of English per token.
CHARS_PER_TOKEN: Final[int] = 4
#: Prefix of the deterministic response text.
SUMMARY_PREFIX: Final[str] = "Summary: "
#: Response text when there is no user text to summarise.
EMPTY_SUMMARY: Final[str] = SUMMARY_PREFIX + "(no text)"

_ROLES: Final = ("user", "assistant")
_DECODER: Final = msgspec.json.Decoder()


class InvalidRequestError(ValueError):
    """The request breaks the Messages API contract; the message starts with the field path.

    The HTTP layer answers it with 400 ``invalid_request_error``.
    """


def invalid_request(message: str) -> InvalidRequestError:
    """Shorthand used by the validators below."""
    return InvalidRequestError(message)


def new_id(prefix: str) -> str:
    """A unique opaque identifier such as ``msg_…`` or ``req_…`` (prefix + 24 hex chars)."""
    return prefix + secrets.token_hex(12)


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` at ~4 chars/token, rounded up: 0 for "", otherwise >= 1."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """The parts of a validated Messages request the simulator uses.

    Invariant: ``system`` and every message hold only text (a string content is
    one block), so token counts are sums over these tuples.
    """

    model: str
    max_tokens: int
    system: tuple[str, ...]
    messages: tuple[tuple[str, tuple[str, ...]], ...]  # (role, text blocks)


def decode_request(raw: bytes) -> object:
    """Parse a request body as JSON; malformed JSON is an ``InvalidRequestError``."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise invalid_request(f"There was an issue with the request body: invalid JSON ({exc})") from None


def validate_request(payload: object, *, max_output_tokens: int) -> MessagesRequest:
    """Check a decoded body like Claude does; raise ``InvalidRequestError`` naming the bad field.

    Fields the simulator does not use (``temperature``, ``stop_sequences``,
    ``metadata``, ...) are accepted and ignored.
    """
    if not isinstance(payload, dict):
        raise invalid_request("request body must be a JSON object")
    model = payload.get("model")
    if model is None:
        raise invalid_request("model: Field required")
    if not isinstance(model, str) or not model:
        raise invalid_request("model: Input should be a non-empty string")
    max_tokens = payload.get("max_tokens")
    if max_tokens is None:
        raise invalid_request("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise invalid_request("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise invalid_request("max_tokens: Input should be greater than or equal to 1")
    if max_tokens > max_output_tokens:
        raise invalid_request(
            f"max_tokens: {max_tokens} > {max_output_tokens}, which is the maximum allowed "
            f"number of output tokens for {model}"
        )
    if payload.get("stream"):
        raise invalid_request("stream: streaming is not supported by the simulator")
    system = payload.get("system")
    system_blocks = () if system is None else _text_blocks(system, "system")
    return MessagesRequest(model, max_tokens, system_blocks, _messages(payload.get("messages")))


def _messages(value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Validate the ``messages`` array; only a final assistant turn (a prefill) may be empty."""
    if value is None:
        raise invalid_request("messages: Field required")
    if not isinstance(value, list):
        raise invalid_request("messages: Input should be a valid list")
    if not value:
        raise invalid_request("messages: at least one message is required")
    result: list[tuple[str, tuple[str, ...]]] = []
    last = len(value) - 1
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise invalid_request(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in _ROLES:
            raise invalid_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid_request(f"messages.{i}.content: Field required")
        blocks = _text_blocks(message["content"], f"messages.{i}.content")
        if not any(blocks) and not (i == last and role == "assistant"):
            raise invalid_request(
                f"messages.{i}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        result.append((role, blocks))
    return tuple(result)


def _text_blocks(value: object, path: str) -> tuple[str, ...]:
    """Validate a string or a list of ``{"type": "text", "text": ...}`` blocks; return the texts."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise invalid_request(f"{path}: Input should be a valid string or a list of content blocks")
    texts: list[str] = []
    for j, block in enumerate(value):
        if not isinstance(block, dict):
            raise invalid_request(f"{path}.{j}: Input should be a valid dictionary")
        block_type = block.get("type")
        if block_type is None:
            raise invalid_request(f"{path}.{j}.type: Field required")
        if block_type != "text":
            raise invalid_request(
                f"{path}.{j}.type: unsupported content block type {block_type!r}; the simulator only supports 'text'"
            )
        text = block.get("text")
        if not isinstance(text, str):
            raise invalid_request(f"{path}.{j}.text: Input should be a valid string")
        if not text:
            raise invalid_request(f"{path}.{j}.text: text content blocks must be non-empty")
        texts.append(text)
    return tuple(texts)


def count_input_tokens(request: MessagesRequest) -> int:
    """Input tokens: the sum of the estimates of every system and message text block."""
    total = sum(estimate_tokens(text) for text in request.system)
    for _role, blocks in request.messages:
        total += sum(estimate_tokens(text) for text in blocks)
    return total


def summarize(request: MessagesRequest, summary_words: int) -> str:
    """Deterministic reply: ``"Summary: "`` + the first ``summary_words`` words of the last user turn."""
    for role, blocks in reversed(request.messages):
        if role == "user":
            words = " ".join(blocks).split()[:summary_words]
            return SUMMARY_PREFIX + " ".join(words) if words else EMPTY_SUMMARY
    return EMPTY_SUMMARY


def build_message(request: MessagesRequest, *, message_id: str, summary_words: int) -> dict[str, Any]:
    """The 200 response body, a Message as ``anthropic.types.Message`` parses it.

    Invariants: text has at most ``max_tokens * CHARS_PER_TOKEN`` characters, so
    ``output_tokens <= max_tokens``; ``stop_reason`` is ``"max_tokens"`` exactly
    when the text was cut.
    """
    text = summarize(request, summary_words)
    limit = request.max_tokens * CHARS_PER_TOKEN
    stop_reason = "end_turn"
    if len(text) > limit:
        text, stop_reason = text[:limit], "max_tokens"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": count_input_tokens(request),
            "output_tokens": min(estimate_tokens(text), request.max_tokens),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        },
    }
