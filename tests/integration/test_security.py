"""Security properties: keys stored only as digests and checked in constant time, SQL never
built from values, every route scoped to the caller's tenant (API, reports and dashboard),
and a database outage answered with 503 + retry-after until the API recovers by itself.
(That logs hold no key or prompt is proven with real processes in tests/e2e.)"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import text

from app import keys
from app.api.app import create_app
from app.api.app import serve as serve_api
from app.keys import create_key, hash_key
from app.serving import base_url, loopback_socket
from app.settings import AnthropicSettings, Settings
from app.sql import QUERY_TEXT
from tests.conftest import Stack
from tests.integration.helpers import wait_until_ended

ROOT = Path(__file__).resolve().parents[2]
BATCHES = "/v1/messages/batches"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


# --- keys -----------------------------------------------------------------------------------

async def _tables(stack: Stack) -> list[str]:
    async with stack.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"))
        return [row[0] for row in rows]


async def _tables_holding(stack: Stack, needle: str) -> list[str]:
    """Every table any of whose rows, as text (all columns), contains ``needle``. Table
    names come from the catalog (quoted by format's %I); the needle is a bound value."""
    found = []
    async with stack.engine.connect() as conn:
        for table in await _tables(stack):
            hit = await conn.execute(text(
                f"SELECT 1 FROM {table} t WHERE strpos(t::text, :needle) > 0 LIMIT 1"),
                {"needle": needle})
            if hit.first() is not None:
                found.append(table)
    return found


async def test_api_keys_are_stored_only_as_digests(stack: Stack) -> None:
    """After keys were created, used by the API, the dashboard and a worker run, no table
    holds a key or its secret part; api_keys holds the SHA-256 and a display prefix."""
    async with stack.engine.begin() as conn:
        admin_key = await create_key(conn, "tenant-admin", admin=True)
    provider_key = f"sk-ant-{secrets.token_urlsafe(24)}"
    stack.settings = dataclasses.replace(stack.settings, anthropic=dataclasses.replace(
        stack.settings.anthropic, api_key=provider_key))
    owner = stack.client()
    batch = await owner.messages.batches.create(requests=[{  # type: ignore[list-item]
        "custom_id": "a", "params": {"model": "claude-haiku-4-5", "max_tokens": 8,
                                     "messages": [{"role": "user", "content": "hi"}]}}])
    stack.start_worker()
    await wait_until_ended(owner, batch.id)
    await stack.stop_worker()
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        for key in (stack.api_key, admin_key):
            await _sign_in(http, key)
            assert (await http.get("/ui/batches")).status_code == 200
            report = await http.get("/v1/reports/cost", headers={"x-api-key": key})
            assert report.status_code == 200

    async with stack.engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT key_hash, prefix FROM api_keys ORDER BY id"))).all()
    assert [tuple(row) for row in stored] == [
        (hash_key(key), key[:keys.DISPLAY_PREFIX_LENGTH]) for key in (stack.api_key, admin_key)]
    prefix = stack.api_key[:keys.DISPLAY_PREFIX_LENGTH]
    assert await _tables_holding(stack, prefix) == ["public.api_keys"]  # the search works
    for key in (stack.api_key, admin_key):
        secret_part = key[keys.DISPLAY_PREFIX_LENGTH:]
        assert await _tables_holding(stack, secret_part) == [], "an API key is stored"
    assert await _tables_holding(stack, provider_key[8:]) == [], "the provider key is stored"


async def test_authentication_checks_the_digest_in_constant_time(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = keys.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    async with stack.engine.connect() as conn:
        assert await keys.authenticate(conn, stack.api_key) is not None
        assert await keys.authenticate(conn, stack.api_key + "x") is None
    digest = hash_key(stack.api_key).encode()
    assert compared == [(digest, digest)]  # an unknown key matches no row: nothing to compare


# --- SQL ------------------------------------------------------------------------------------

SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|DROP|ALTER|TRUNCATE|"
                 r"EXPLAIN|COPY|GRANT|WITH [a-z_]+ AS)\b")
SCANNED = ("app", "migrations")
"""The code that runs against a production database (tests and benchmarks never see a
request's values)."""
SAFE_BUILT_SQL = {
    # DDL cannot take bind parameters; every interpolated name below is a constant or made
    # by the code itself, never a request value.
    ("app/embedded.py", "CREATE DATABASE"): "database name from the demo's own settings",
    ("migrations/versions/0007_cost_views.py", "CREATE VIEW"): "view names from a constant",
    ("migrations/versions/0007_cost_views.py", "DROP VIEW"): "view names from a constant",
    ("migrations/versions/0007_cost_views.py", "FROM llm_calls c JOIN tenants"):
        "the views' shared column list, a constant",
    ("migrations/versions/0011_report_statistics.py", "CREATE STATISTICS"): "constants",
    ("migrations/versions/0011_report_statistics.py", "DROP STATISTICS"): "constants",
    ("migrations/versions/0003_prices_cost_status.py", "DELETE FROM model_prices"):
        "a constant date",
}


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _operands(node: ast.AST) -> list[ast.AST]:
    """The operands of a chain of ``+``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _operands(node.left) + _operands(node.right)
    return [node]


def _built_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, constant text) of every string built from values: f-strings with a
    placeholder, ``"..." % x``, ``"...".format(...)`` and ``"..." + x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and any(
                isinstance(v, ast.FormattedValue) for v in node.values):
            yield node.lineno, "".join(v.value for v in node.values if _is_text(v))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_text(node.left):
            yield node.lineno, node.left.value  # type: ignore[attr-defined]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            operands = _operands(node)
            if not all(_is_text(o) for o in operands):
                yield node.lineno, "".join(o.value for o in operands if _is_text(o))  # type: ignore[attr-defined]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format" and _is_text(node.func.value)):
            yield node.lineno, node.func.value.value  # type: ignore[attr-defined]


def test_sql_is_never_built_from_values() -> None:
    """Values reach SQL only as bind parameters: no Python source builds SQL text with
    f-strings, ``%``, ``.format`` or ``+`` outside the reviewed DDL places above, and the
    named queries use no dynamic SQL."""
    found, used = [], set()
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text()
            relative = path.relative_to(ROOT).as_posix()
            for line, constant in _built_strings(ast.parse(source)):
                match = SQL.search(constant)
                if match is None:
                    continue
                allowed = [k for k in SAFE_BUILT_SQL if k[0] == relative and k[1] in constant]
                used.update(allowed)
                if not allowed:
                    found.append(f"{relative}:{line}: {constant.strip()[:80]!r}")
    assert found == [], "SQL built from values:\n" + "\n".join(found)
    assert used == set(SAFE_BUILT_SQL), f"stale allow-list entries: {set(SAFE_BUILT_SQL) - used}"
    for name, body in QUERY_TEXT.items():
        code = re.sub(r"--[^\n]*", "", body)
        assert not re.search(r"\bEXECUTE\b|\bformat\s*\(", code, re.IGNORECASE), name
        assert not re.search(r"%s|%\(|\{[a-z_]+\}", code), f"{name}: a Python placeholder"


# --- tenant isolation -------------------------------------------------------------------------

MARKER = "TenantAmarker7Q"
PUBLIC_PREFIXES = ("/docs", "/ui/static", "/health")
PUBLIC_PATH_VALUES = {"{file_path:path}": "dashboard.css", "{path:str}": "openapi.json"}
SKIPPED = {("POST", "/ui/sign-out")}  # ends the session the sweep runs under


async def _sign_in(http: httpx.AsyncClient, key: str) -> str:
    """Sign ``http`` in to the dashboard with ``key``; return the form (CSRF) token."""
    form = await http.get("/ui/sign-in")
    token = CSRF_FIELD.search(form.text)
    assert token, "no CSRF field on the sign-in form"
    signed = await http.post("/ui/sign-in", data={"api_key": key, "_csrf_token": token[1]})
    assert signed.status_code == 303, signed.text
    return token[1]


def http_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, dashboard included."""
    return sorted((method, route.path) for route in app.routes if isinstance(route, HTTPRoute)
                  for method in route.methods - {"OPTIONS", "HEAD"})


@dataclass
class TenantA:
    running: str
    ended: str

    @property
    def ids(self) -> tuple[str, str]:
        return self.running, self.ended


def _marked_requests(count: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"{MARKER}-{i}", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 16, "system": f"{MARKER} system",
        "messages": [{"role": "user", "content": f"{MARKER} prompt {i}"}]}}
        for i in range(count)]


async def _tenant_a_batches(stack: Stack) -> TenantA:
    """One batch that ran to its end (so tenant A has spend to report) and one running."""
    owner = stack.client()
    ended = await owner.messages.batches.create(
        requests=_marked_requests(3), extra_body={"metadata": {"note": MARKER}})  # type: ignore[arg-type]
    stack.start_worker()
    await wait_until_ended(owner, ended.id)
    await stack.stop_worker()
    running = await owner.messages.batches.create(
        requests=_marked_requests(2), extra_body={"metadata": {"note": MARKER}})  # type: ignore[arg-type]
    return TenantA(running=running.id, ended=ended.id)


def _fill(path: str, batch_id: str) -> str | None:
    """The path with its parameters filled in; None if it has one this test cannot fill."""
    path = path.replace("{batch_id:str}", batch_id)
    if path.startswith(PUBLIC_PREFIXES):
        for placeholder, value in PUBLIC_PATH_VALUES.items():
            path = path.replace(placeholder, value)
    return None if "{" in path else path


async def test_no_route_lets_one_tenant_reach_another(stack: Stack) -> None:
    """Tenant B, with its key (API) or its dashboard session (/ui), calls every route of the
    app, with tenant A's batch ids in the path and in every query parameter that takes one:
    a route about A's batch answers 403 or 404, no answer holds A's data, nothing of A's
    changes. Routes are enumerated from the app, so a new one is covered without edits."""
    a = await _tenant_a_batches(stack)
    async with stack.engine.begin() as conn:
        key_b = await create_key(conn, "tenant-b")
    b_batch = await stack.client().with_options(api_key=key_b).messages.batches.create(
        requests=[{"custom_id": "b", "params": {}}])  # type: ignore[list-item]
    variants: list[dict[str, str]] = [
        {}, {"after_id": a.running}, {"before_id": a.ended}, {"batch_id": a.ended},
        {"ids": ",".join(a.ids)}, {"tenant": "tenant-a"}, {"by": "batch"}, {"by": "tenant"}]
    routes = http_routes(create_app(stack.settings))
    unfillable = [r for r in routes if _fill(r[1], a.ended) is None]
    assert unfillable == [], f"routes with path parameters this test cannot fill: {unfillable}"
    seen: dict[str, set[int]] = {}

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        csrf = await _sign_in(http, key_b)
        session = dict(http.cookies.items())
        for method, template in routes:
            if (method, template) in SKIPPED:
                continue
            about_a = "{batch_id" in template
            for batch_id in (a.ids if about_a else (a.ended,)):
                path = _fill(template, batch_id)
                assert path is not None
                for params in variants:
                    http.cookies.clear()
                    http.cookies.update(session)
                    headers = ({"x-csrftoken": csrf} if path.startswith("/ui")
                               else {"x-api-key": key_b})
                    response = await http.request(method, path, params=params, headers=headers)
                    where = f"{method} {path} {params} -> {response.status_code}"
                    seen.setdefault(f"{method} {template}", set()).add(response.status_code)
                    assert response.status_code < 500, where
                    assert MARKER not in response.text, f"tenant A's data in {where}"
                    if about_a:
                        assert response.status_code in (403, 404), where
                    else:
                        assert not any(i in response.text for i in a.ids), where
    assert all(seen.values())

    owner = stack.client()
    assert [b.id async for b in owner.messages.batches.list()] == [a.running, a.ended]
    running = await owner.messages.batches.retrieve(a.running)
    assert running.cancel_initiated_at is None and running.request_counts.processing == 2
    assert len([r async for r in await owner.messages.batches.results(a.ended)]) == 3
    neighbour = stack.client().with_options(api_key=key_b)
    assert [b.id async for b in neighbour.messages.batches.list()] == [b_batch.id]


async def test_cost_reports_are_scoped_to_the_tenant(stack: Stack) -> None:
    a = await _tenant_a_batches(stack)
    async with stack.engine.begin() as conn:
        key_b = await create_key(conn, "tenant-b")
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        async def report(key: str, **params: str) -> httpx.Response:
            return await http.get("/v1/reports/cost", params=params, headers={"x-api-key": key})

        mine = (await report(stack.api_key, by="batch")).json()
        assert [row["key"] for row in mine["data"]] == [a.ended]
        assert mine["data"][0]["calls"] == 3
        for by in ("day", "model", "tenant", "batch", "mode"):
            theirs = (await report(key_b, by=by)).json()
            assert theirs["data"] == [] and theirs["total_cost"] == "0", (by, theirs)
        denied = await report(key_b, tenant="tenant-a")
        assert denied.status_code == 403
        assert denied.json()["error"]["type"] == "permission_error"
        await _sign_in(http, key_b)
        page = await http.get("/ui/cost")
        assert page.status_code == 200 and "tenant-a" not in page.text and a.ended not in page.text
        assert (await http.get("/ui/cost", params={"tenant": "tenant-a"})).status_code == 403


# --- database outage --------------------------------------------------------------------------

class Cuttable:
    """A TCP proxy to Postgres that can be cut (listener closed, every connection dropped:
    what clients see of a server that died) and restored on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.links -= {writer, up_writer}

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                 reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.transport.abort()
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def api_behind(proxy: Cuttable, database_url: str) -> AsyncIterator[str]:
    """The API with its own engine (as ``batchmill serve`` runs) reaching Postgres only
    through ``proxy``."""
    url = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", database_url)
    settings = Settings(database_url=url, db_pool_size=2,
                        anthropic=AnthropicSettings(api_key="unused"))
    sock = loopback_socket()
    server = asyncio.create_task(serve_api(settings, sockets=[sock]))
    await asyncio.sleep(0.1)
    try:
        yield base_url(sock)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


async def test_database_outage_is_503_with_retry_after_then_recovers(stack: Stack) -> None:
    database = stack.settings.database_url or ""
    host, port = re.search(r"@([^:/]+):(\d+)/", database).groups()  # type: ignore[union-attr]
    proxy = Cuttable((host, int(port)))
    await proxy.restore()
    key = {"x-api-key": stack.api_key}
    batch = {"requests": [{"custom_id": "a", "params": {}}]}
    async with api_behind(proxy, database) as url, httpx.AsyncClient(base_url=url) as http:
        created = await http.post(BATCHES, json=batch, headers=key)
        assert created.status_code == 200, created.text
        csrf = await _sign_in(http, stack.api_key)
        calls = [("GET", BATCHES), ("POST", BATCHES), ("GET", f"{BATCHES}/{created.json()['id']}"),
                 ("POST", f"{BATCHES}/{created.json()['id']}/cancel"), ("GET", "/v1/reports/cost"),
                 ("GET", "/health/ready")]

        await proxy.cut()
        for method, path in calls:
            response = await http.request(method, path, headers=key,
                                          json=batch if method == "POST" else None)
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["error"]["type"] == "overloaded_error"
            assert int(response.headers["retry-after"]) >= 1
        page = await http.get("/ui/batches", headers={"x-csrftoken": csrf})
        assert page.status_code == 503 and page.headers["retry-after"]
        assert (await http.get("/health/live")).status_code == 200

        await proxy.restore()  # the same address again: no restart, no reconfiguration
        deadline = asyncio.get_running_loop().time() + 15
        while (listed := await http.get(BATCHES, headers=key)).status_code != 200:
            assert asyncio.get_running_loop().time() < deadline, listed.text
            await asyncio.sleep(0.2)
        assert [b["id"] for b in listed.json()["data"]] == [created.json()["id"]]
        again = await http.post(BATCHES, json=batch, headers=key)
        assert again.status_code == 200, again.text
        assert (await http.get("/ui/batches")).status_code == 200
    await proxy.cut()
