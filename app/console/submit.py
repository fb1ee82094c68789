"""Turn a JSONL file into a Message Batches request body, line by line, as a stream of bytes.

Two line formats, which may be mixed:

- Anthropic's batch request, ``{"custom_id": ..., "params": {...}}`` (optionally ``priority``
  and ``task_type``): validated and sent as the very bytes it was read as;
- a simple line, ``{"id": ..., "text": ...}`` (other fields ignored): becomes a request for
  ``--model`` with ``--max-tokens``, ``--system`` and one user message holding ``text``.

Nothing is held whole: the body ``{...extensions, "requests": [line, line, ...]}`` is produced
in chunks while the file is read, so a 256 MB file costs a few buffers. A bad line raises
``InputError`` naming its line number, which stops the upload (the API then creates nothing).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.console.errors import UsageError
from app.schemas import CUSTOM_ID_PATTERN, MAX_REQUESTS, BatchRequest

CHUNK_BYTES = 64 * 1024
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)
_BOM = b"\xef\xbb\xbf"


class InputError(UsageError):
    """The input is not a batch."""


@dataclass(frozen=True)
class SimpleDefaults:
    """What a simple ``{id, text}`` line is sent with."""

    model: str
    max_tokens: int
    system: str | None = None


class _Probe(msgspec.Struct):
    """Just enough of a line to tell its format (other fields are skipped unread)."""

    custom_id: Any = None
    id: Any = None
    text: Any = None


@dataclass
class BatchBody:
    """The request body as an iterable of byte chunks; counts what it sent."""

    lines: Iterable[bytes]
    source: str
    defaults: SimpleDefaults
    extensions: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    finished: bool = False  # every byte was handed to the HTTP client

    def __iter__(self) -> Iterator[bytes]:
        return _chunked(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        head = msgspec.json.encode(self.extensions)[:-1]  # the extensions, object left open
        yield head + (b',"requests":[' if self.extensions else b'"requests":[')
        seen: dict[str, int] = {}
        for number, line in enumerate(self.lines, start=1):
            if number == 1:
                line = line.removeprefix(_BOM)
            line = line.strip()
            if not line:
                continue
            request, custom_id = self._request(line, number)
            first = seen.setdefault(custom_id, number)
            if first != number:
                raise self._error(number, f"custom_id {custom_id!r} repeats line {first}; "
                                  "ids must be unique within a batch")
            if self.requests == MAX_REQUESTS:
                raise self._error(number, f"a batch holds at most {MAX_REQUESTS:,} requests; "
                                  "split the file")
            yield (b"," + request) if self.requests else request
            self.requests += 1
        if not self.requests:
            raise InputError(f"{self.source}: no requests (empty input)")
        yield b"]}"
        self.finished = True

    def _request(self, line: bytes, number: int) -> tuple[bytes, str]:
        """The request's JSON and its custom_id."""
        try:
            probe = msgspec.json.decode(line, type=_Probe)
        except msgspec.ValidationError:
            raise self._error(number, "not a JSON object") from None
        except msgspec.DecodeError as exc:
            raise self._error(number, f"invalid JSON ({exc})") from None
        if probe.custom_id is not None:
            try:
                request = msgspec.json.decode(line, type=BatchRequest)
            except msgspec.ValidationError as exc:
                raise self._error(number, str(exc).replace("`$.", "`")) from None
            if not bytes(request.params).lstrip().startswith(b"{"):
                raise self._error(number, "params must be a JSON object")
            return line, request.custom_id
        if probe.id is None or probe.text is None:
            raise self._error(number, 'expected {"custom_id", "params"} (Anthropic\'s format) '
                              'or {"id", "text"}')
        custom_id = str(probe.id) if type(probe.id) is int else probe.id
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise self._error(number, f"id {probe.id!r} must be 1-64 letters, digits, "
                              "'-' or '_'")
        if not isinstance(probe.text, str) or not probe.text.strip():
            raise self._error(number, "text must be a non-empty string")
        return msgspec.json.encode(simple_request(custom_id, probe.text, self.defaults)), custom_id

    def _error(self, number: int, message: str) -> InputError:
        return InputError(f"{self.source}, line {number}: {message}")


def simple_request(custom_id: str, text: str, defaults: SimpleDefaults) -> dict[str, Any]:
    params: dict[str, Any] = {"model": defaults.model, "max_tokens": defaults.max_tokens}
    if defaults.system:
        params["system"] = defaults.system
    params["messages"] = [{"role": "user", "content": text}]
    return {"custom_id": custom_id, "params": params}


def _chunked(pieces: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Group small pieces into chunks of about ``size`` bytes (fewer, larger writes)."""
    buffer: list[bytes] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(buffer)
            buffer.clear()
            held = 0
    if buffer:
        yield b"".join(buffer)
