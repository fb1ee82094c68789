"""Wire-level logic of the simulated ``POST /v1/messages``, free of any HTTP.

Everything here is a pure function of its arguments (except ``new_id``), so the
request validation, token accounting and response shape can be unit-tested
without a server, and so the same rules can later back the Message Batches
endpoints. Invalid input raises ``InvalidRequestError``; mapping it to an HTTP
error envelope is the HTTP layer's job.

Prompt caching: validation collects the ``cache_control`` breakpoints and
``prompt_blocks`` lists the prompt in cache-prefix order; what a request reads
from or writes to the cache is decided by ``app.simulator.cache`` and reaches
the response as a ``CacheUsage``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import msgspec

#: Rough token size used by every estimate: ~4 characters of English per token.
CHARS_PER_TOKEN: Final[int] = 4
#: Prefix of the deterministic response text.
SUMMARY_PREFIX: Final[str] = "Summary: "
#: Response text when there is no user text to summarise.
EMPTY_SUMMARY: Final[str] = SUMMARY_PREFIX + "(no text)"

#: ``cache_control.ttl`` of a prompt-cache breakpoint: 5 minutes (the default) or 1 hour.
CacheTtl = Literal["5m", "1h"]
CACHE_TTLS: Final[tuple[CacheTtl, ...]] = ("5m", "1h")
DEFAULT_CACHE_TTL: Final[CacheTtl] = "5m"
#: The only ``cache_control.type``.
EPHEMERAL: Final[str] = "ephemeral"
#: Most ``cache_control`` breakpoints in one request (a top-level ``cache_control`` included).
MAX_CACHE_BREAKPOINTS: Final[int] = 4

_ROLES: Final = ("user", "assistant")
_DECODER: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()


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
    one block), so token counts are sums over these tuples (plus the tools).

    The prompt's *blocks*, in cache-prefix order, are: each tool, each system
    block, then each content block of each message (see ``prompt_blocks``);
    ``cache_breakpoints`` index into that sequence.
    """

    model: str
    max_tokens: int
    system: tuple[str, ...]
    messages: tuple[tuple[str, tuple[str, ...]], ...]  # (role, text blocks)
    tools: tuple[str, ...] = ()
    """Tool definitions as canonical JSON (sorted keys, ``cache_control`` removed); the
    estimate of that text counts as input tokens, as tool definitions do on the real API."""
    cache_breakpoints: tuple[tuple[int, CacheTtl], ...] = ()
    """``(block index, ttl)`` of every block marked with ``cache_control`` (and of the block
    a top-level ``cache_control`` marks), ascending; at most ``MAX_CACHE_BREAKPOINTS``."""


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """The prompt-cache part of a response's ``usage``: tokens read and written, by TTL."""

    read_tokens: int = 0
    """``cache_read_input_tokens``: the cached prefix this request read."""
    write_5m_tokens: int = 0
    """``cache_creation.ephemeral_5m_input_tokens``."""
    write_1h_tokens: int = 0
    """``cache_creation.ephemeral_1h_input_tokens``."""

    @property
    def write_tokens(self) -> int:
        """``cache_creation_input_tokens``: every token written to the cache."""
        return self.write_5m_tokens + self.write_1h_tokens


#: Usage of a request that neither reads nor writes the cache.
NO_CACHE_USAGE: Final[CacheUsage] = CacheUsage()


def decode_request(raw: bytes) -> object:
    """Parse a request body as JSON; malformed JSON is an ``InvalidRequestError``."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise invalid_request(f"There was an issue with the request body: invalid JSON ({exc})") from None


def validate_request(payload: object, *, max_output_tokens: int) -> MessagesRequest:
    """Check a decoded body like Claude does; raise ``InvalidRequestError`` naming the bad field.

    Fields the simulator does not use (``temperature``, ``stop_sequences``,
    ``metadata``, ``tool_choice``, ...) are accepted and ignored. ``tools`` must be a
    list of objects; ``cache_control`` (on a tool, a system or message text block, or
    at the top level) must be ``{"type": "ephemeral"}`` with an optional ``ttl`` of
    ``"5m"`` or ``"1h"``, on at most ``MAX_CACHE_BREAKPOINTS`` blocks, and 1-hour
    breakpoints must all come before 5-minute ones (the API's rule for mixed TTLs).
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
    tools, marks = _tools(payload.get("tools"))
    system = payload.get("system")
    system_blocks, system_marks = ((), ()) if system is None else _text_blocks(system, "system")
    messages, message_marks = _messages(payload.get("messages"))
    marks = marks + system_marks + message_marks
    # Only a final assistant prefill may be empty ("" or []); the top-level mark skips it.
    final_blocks = messages[-1][1]
    last_block = len(marks) - 1 - (0 if any(final_blocks) else len(final_blocks))
    breakpoints = _breakpoints(marks, _cache_ttl(payload.get("cache_control"), "cache_control"), last_block)
    return MessagesRequest(model, max_tokens, system_blocks, messages, tools, breakpoints)


def _breakpoints(
    marks: tuple[CacheTtl | None, ...], top_level: CacheTtl | None, last_block: int
) -> tuple[tuple[int, CacheTtl], ...]:
    """``(block index, ttl)`` of the marked blocks, checked against the API's limits.

    ``marks`` holds one entry per prompt block (``None`` = not marked). A top-level
    ``cache_control`` marks ``last_block`` (the last non-empty block) unless that
    block carries its own.
    """
    breakpoints = [(i, ttl) for i, ttl in enumerate(marks) if ttl is not None]
    if top_level is not None and last_block >= 0 and marks[last_block] is None:
        breakpoints.append((last_block, top_level))
        breakpoints.sort()
    if len(breakpoints) > MAX_CACHE_BREAKPOINTS:
        raise invalid_request(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {len(breakpoints)}."
        )
    ttls = [ttl for _i, ttl in breakpoints]
    if "5m" in ttls and "1h" in ttls[ttls.index("5m"):]:
        raise invalid_request(
            "cache_control: a breakpoint with ttl='1h' must not come after one with ttl='5m' "
            "(longer TTLs must come first)"
        )
    return tuple(breakpoints)


def _cache_ttl(value: object, path: str) -> CacheTtl | None:
    """Validate a ``cache_control`` value; its TTL, or ``None`` when absent (missing or null)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request(f"{path}: Input should be a valid dictionary")
    if "type" not in value:
        raise invalid_request(f"{path}.type: Field required")
    if value["type"] != EPHEMERAL:
        raise invalid_request(f"{path}.type: Input should be '{EPHEMERAL}'")
    ttl = value.get("ttl")
    if ttl is None:
        return DEFAULT_CACHE_TTL
    if ttl not in CACHE_TTLS:
        raise invalid_request(f"{path}.ttl: Input should be '5m' or '1h'")
    return cast(CacheTtl, ttl)


def _tools(value: object) -> tuple[tuple[str, ...], tuple[CacheTtl | None, ...]]:
    """Validate ``tools`` (a list of objects); their canonical JSON and ``cache_control`` marks."""
    if value is None:
        return (), ()
    if not isinstance(value, list):
        raise invalid_request("tools: Input should be a valid list")
    tools: list[str] = []
    marks: list[CacheTtl | None] = []
    for k, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise invalid_request(f"tools.{k}: Input should be a valid dictionary")
        marks.append(_cache_ttl(tool.get("cache_control"), f"tools.{k}.cache_control"))
        definition = {key: item for key, item in tool.items() if key != "cache_control"}
        tools.append(msgspec.json.encode(definition, order="sorted").decode())
    return tuple(tools), tuple(marks)


def _messages(
    value: object,
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[CacheTtl | None, ...]]:
    """Validate the ``messages`` array; only a final assistant turn (a prefill) may be empty.

    Returns the messages and the ``cache_control`` mark of each of their blocks, in order.
    """
    if value is None:
        raise invalid_request("messages: Field required")
    if not isinstance(value, list):
        raise invalid_request("messages: Input should be a valid list")
    if not value:
        raise invalid_request("messages: at least one message is required")
    result: list[tuple[str, tuple[str, ...]]] = []
    marks: list[CacheTtl | None] = []
    last = len(value) - 1
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise invalid_request(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in _ROLES:
            raise invalid_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid_request(f"messages.{i}.content: Field required")
        blocks, block_marks = _text_blocks(message["content"], f"messages.{i}.content")
        if not any(blocks) and not (i == last and role == "assistant"):
            raise invalid_request(
                f"messages.{i}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        result.append((role, blocks))
        marks.extend(block_marks)
    return tuple(result), tuple(marks)


def _text_blocks(value: object, path: str) -> tuple[tuple[str, ...], tuple[CacheTtl | None, ...]]:
    """Validate a string or a list of ``{"type": "text", "text": ...}`` blocks.

    Returns the texts and each block's ``cache_control`` TTL (``None`` if unmarked; a
    string is one unmarked block).
    """
    if isinstance(value, str):
        return (value,), (None,)
    if not isinstance(value, list):
        raise invalid_request(f"{path}: Input should be a valid string or a list of content blocks")
    texts: list[str] = []
    marks: list[CacheTtl | None] = []
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
        marks.append(_cache_ttl(block.get("cache_control"), f"{path}.{j}.cache_control"))
    return tuple(texts), tuple(marks)


def count_input_tokens(request: MessagesRequest) -> int:
    """Input tokens: the sum of the estimates of every tool definition, system and message text block."""
    total = sum(estimate_tokens(tool) for tool in request.tools)
    total += sum(estimate_tokens(text) for text in request.system)
    for _role, blocks in request.messages:
        total += sum(estimate_tokens(text) for text in blocks)
    return total


def prompt_blocks(request: MessagesRequest) -> Iterator[tuple[bytes, int]]:
    """The prompt's blocks in cache-prefix order (tools, system, messages): ``(identity, tokens)``.

    ``identity`` is the canonical JSON of the block without its ``cache_control``:
    ``["tool", <definition>]``, ``["system", text]`` or ``["message", index, role, text]``
    (so a message boundary or a role change makes another prefix). The tokens sum to
    ``count_input_tokens(request)``.
    """
    for tool in request.tools:
        yield b'["tool",' + tool.encode() + b"]", estimate_tokens(tool)
    for text in request.system:
        yield _ENCODER.encode(("system", text)), estimate_tokens(text)
    for i, (role, blocks) in enumerate(request.messages):
        for text in blocks:
            yield _ENCODER.encode(("message", i, role, text)), estimate_tokens(text)


def summarize(request: MessagesRequest, summary_words: int) -> str:
    """Deterministic reply: ``"Summary: "`` + the first ``summary_words`` words of the last user turn."""
    for role, blocks in reversed(request.messages):
        if role == "user":
            words = " ".join(blocks).split()[:summary_words]
            return SUMMARY_PREFIX + " ".join(words) if words else EMPTY_SUMMARY
    return EMPTY_SUMMARY


def build_message(
    request: MessagesRequest, *, message_id: str, summary_words: int, cache: CacheUsage = NO_CACHE_USAGE
) -> dict[str, Any]:
    """The 200 response body, a Message as ``anthropic.types.Message`` parses it.

    Invariants: text has at most ``max_tokens * CHARS_PER_TOKEN`` characters, so
    ``output_tokens <= max_tokens``; ``stop_reason`` is ``"max_tokens"`` exactly
    when the text was cut; ``input_tokens + cache_creation_input_tokens +
    cache_read_input_tokens == count_input_tokens(request)`` (``cache`` says how
    much of the prompt was read from / written to the prompt cache).
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
            "input_tokens": count_input_tokens(request) - cache.read_tokens - cache.write_tokens,
            "output_tokens": min(estimate_tokens(text), request.max_tokens),
            "cache_creation_input_tokens": cache.write_tokens,
            "cache_read_input_tokens": cache.read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.write_5m_tokens,
                "ephemeral_1h_input_tokens": cache.write_1h_tokens,
            },
            "service_tier": "standard",
        },
    }
