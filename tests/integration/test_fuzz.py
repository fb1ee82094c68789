"""Fuzz every operation of the served OpenAPI schema with schemathesis, authenticated.

Each operation gets ``BATCHMILL_FUZZ_EXAMPLES`` positive cases (valid by the schema) and as
many negative ones (invalid by it), sent over HTTP to a real Postgres-backed API that holds a
running and an ended batch, so path parameters meet real rows as well as unknown ids. Every
response must be no 5xx and conform to the schema (status, content type, body), and every
error must have Anthropic's shape. The suite replays the same few cases per operation each
run; ``make fuzz`` draws many fresh ones. Case counts go to test-artifacts/fuzz/latest.md.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.app import create_app
from app.settings import Settings
from tests.conftest import Stack
from tests.integration.test_bad_input_matrix import api_over_fresh_database
from tests.integration.helpers import summarise_requests

EXAMPLES = int(os.environ.get("BATCHMILL_FUZZ_EXAMPLES", "25"))
"""Cases per operation and generation mode (``make fuzz`` raises it)."""
RANDOM = os.environ.get("BATCHMILL_FUZZ_RANDOM") == "1"
"""Fresh random cases each run (``make fuzz``); by default the same cases every run."""
ARTIFACTS = Path(os.environ.get("BATCHMILL_TEST_ARTIFACTS", "test-artifacts")) / "fuzz"
SCHEMA_PATH = "/docs/openapi.json"
ERROR_TYPES = {"invalid_request_error", "authentication_error", "permission_error",
               "not_found_error", "request_too_large", "rate_limit_error", "api_error",
               "overloaded_error"}


def _runs() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) for every documented operation, read from the app itself so that
    a new route is fuzzed without a change here. Negative cases need something the schema
    can refuse: a body or a query parameter (a bare ``{batch_id}`` is any string)."""
    app = create_app(Settings(database_url="postgresql://unused@127.0.0.1/none"))
    runs = []
    for path, item in app.openapi_schema.to_schema()["paths"].items():
        for method, operation in item.items():
            refusable = "requestBody" in operation or any(
                p["in"] == "query" for p in operation.get("parameters", ()))
            runs += [(method.upper(), path, mode) for mode in GenerationMode
                     if refusable or mode is GenerationMode.POSITIVE]
    return sorted(runs)


class NotAnthropicError(AssertionError):
    """An error response without Anthropic's shape."""


def anthropic_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx body is ``{"type": "error", "error": {"type": ..., "message": ...}}``
    with one of Anthropic's error types, and carries a request-id."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        raise NotAnthropicError(f"error body is not JSON: {response.text[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if (not isinstance(error, dict) or set(body) != {"type", "error"} or body["type"] != "error"
            or set(error) != {"type", "message"} or error["type"] not in ERROR_TYPES
            or not isinstance(error["message"], str)):
        raise NotAnthropicError(f"not Anthropic's error shape: {body!r}")
    if not response.headers.get("request-id"):
        raise NotAnthropicError("error response without a request-id header")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, anthropic_error_shape]


@pytest.fixture(scope="module")
def tallies() -> Iterator[dict[str, dict[int, int]]]:
    """Statuses seen per operation and mode; written out once the module is done."""
    seen: dict[str, dict[int, int]] = {}
    yield seen
    total = sum(sum(statuses.values()) for statuses in seen.values())
    lines = ["| operation | mode | cases | statuses |", "|---|---|---:|---|"]
    for label, statuses in sorted(seen.items()):
        operation, mode = label.rsplit(" ", 1)
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        lines.append(f"| `{operation}` | {mode} | {sum(statuses.values())} | {codes} |")
    lines.append(f"| **total** | | **{total}** | |")
    report = "\n".join(lines) + "\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "latest.md").write_text(report)
    print(f"\nschemathesis: {total} cases ({EXAMPLES} per operation and mode)\n{report}")


@pytest.fixture(scope="module")
async def stack(postgres_server_url: str, template_database: str) -> AsyncIterator[Stack]:
    """One API (default settings) and database for every operation: what one operation's
    cases create, the next ones meet."""
    async with api_over_fresh_database(postgres_server_url, template_database) as shared:
        yield shared


@pytest.fixture
async def known_batches(stack: Stack) -> list[str]:
    """A batch still running (no worker runs) and one already ended (every request's params
    were refused at submission), new for each operation (an earlier one may delete them)."""
    async with httpx.AsyncClient(base_url=stack.api_url,
                                 headers={"x-api-key": stack.api_key}) as http:
        running = await http.post("/v1/messages/batches",
                                  json={"requests": summarise_requests(2)})
        ended = await http.post("/v1/messages/batches", json={"requests": [
            {"custom_id": "no-model", "params": {"max_tokens": 5}}]})
    assert running.status_code == ended.status_code == 200
    assert ended.json()["processing_status"] == "ended"
    return [running.json()["id"], ended.json()["id"]]


def _fuzz(schema: Any, method: str, path: str, mode: GenerationMode, *, base_url: str,
          key: str, batch_ids: list[str], statuses: dict[int, int]) -> None:
    """Blocking: send the cases with ``requests`` (run in a thread beside the served API)."""
    operation = schema[path][method]
    headers = {"x-api-key": key}
    strategies = [operation.as_strategy(generation_mode=mode, headers=headers)]
    if "{batch_id}" in path and mode is GenerationMode.POSITIVE:  # real ids first: favoured
        strategies[:0] = [operation.as_strategy(generation_mode=mode, headers=headers,
                                                path_parameters={"batch_id": batch_id})
                          for batch_id in batch_ids]
    session = requests.Session()

    @given(case=st.one_of(strategies))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def send(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, session=session, headers=headers,
                                          checks=CHECKS, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    with session:
        send()


@pytest.mark.parametrize(("method", "path", "mode"), _runs())
async def test_fuzz_operation(stack: Stack, known_batches: list[str],
                              tallies: dict[str, dict[int, int]], method: str, path: str,
                              mode: GenerationMode) -> None:
    schema = await asyncio.to_thread(schemathesis.openapi.from_url, stack.api_url + SCHEMA_PATH)
    statuses = tallies.setdefault(f"{method} {path} {mode}", {})
    await asyncio.to_thread(_fuzz, schema, method, path, mode, base_url=stack.api_url,
                            key=stack.api_key, batch_ids=known_batches, statuses=statuses)
    assert sum(statuses.values()) >= 1
    assert not any(status >= 500 for status in statuses)
