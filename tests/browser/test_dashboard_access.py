"""Who may see and do what on the dashboard, over plain HTTP: sign-in, CSRF, tenant scope,
revoked keys, the admin's cost view, and HTML (not JSON) error pages under /ui."""
from __future__ import annotations

import httpx
from sqlalchemy import select

from app.db.models import ApiKey
from app.keys import create_key, hash_key, revoke_key
from tests.browser.conftest import csrf_token, signed_in_client
from tests.conftest import Stack
from tests.integration.helpers import summarise_requests


def is_page(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("text/html")


async def test_sign_in_needs_a_valid_key_and_the_form_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        away = await http.get("/ui/batches/msgbatch_x?a=1")
        assert away.status_code == 303
        assert away.headers["location"] == "/ui/sign-in?next=%2Fui%2Fbatches%2Fmsgbatch_x%3Fa%3D1"
        assert (await http.get("/ui/progress")).status_code == 401

        no_token = await http.post("/ui/sign-in", data={"api_key": stack.api_key})
        assert no_token.status_code == 403 and is_page(no_token)
        token = await csrf_token(http, "/ui/sign-in")
        wrong = await http.post("/ui/sign-in", data={"api_key": "bm-nope", "_csrf_token": token})
        assert wrong.status_code == 401 and is_page(wrong)
        assert "unknown or has been revoked" in wrong.text

        signed = await http.post("/ui/sign-in", data={
            "api_key": stack.api_key, "_csrf_token": token, "next": "//evil.example/ui/x"})
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/batches"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/ui" in cookie
        assert stack.api_key.lower() not in cookie and hash_key(stack.api_key) not in cookie
        page = await http.get("/ui/batches")
        assert page.status_code == 200 and "tenant-a" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]

        value = http.cookies["batchmill_session"]
        payload, _, signature = value.partition(".")
        async with httpx.AsyncClient(base_url=stack.api_url) as other:
            for forged in (f"{payload}.{signature[::-1]}", f"{payload[:-2]}xx.{signature}", "x"):
                response = await other.get("/ui/batches",
                                           headers={"cookie": f"batchmill_session={forged}"})
                assert response.status_code == 303, forged  # a forged session is no session

        token = await csrf_token(http, "/ui/batches")
        out = await http.post("/ui/sign-out", data={"_csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
        assert (await http.get("/ui/batches")).status_code == 303


async def test_every_page_is_scoped_to_the_signed_in_tenant(stack: Stack) -> None:
    async with stack.engine.begin() as conn:
        other_key = await create_key(conn, "tenant-b")
    mine = await stack.client().messages.batches.create(
        requests=summarise_requests(3))  # type: ignore[arg-type]
    theirs = await stack.client().with_options(api_key=other_key).messages.batches.create(
        requests=summarise_requests(2))  # type: ignore[arg-type]
    async with signed_in_client(stack.api_url, stack.api_key) as http:
        listing = (await http.get("/ui/batches")).text
        assert mine.id in listing and theirs.id not in listing
        foreign = await http.get(f"/ui/batches/{theirs.id}")
        assert foreign.status_code == 404 and is_page(foreign)
        assert theirs.id in foreign.text and "not found" in foreign.text
        polled = (await http.get("/ui/progress", params={"ids": f"{mine.id},{theirs.id}"})).json()
        assert [b["id"] for b in polled["batches"]] == [mine.id]

        token = await csrf_token(http, f"/ui/batches/{mine.id}")
        forged = await http.post(f"/ui/batches/{mine.id}/cancel")
        assert forged.status_code == 403 and is_page(forged)
        assert (await http.post(f"/ui/batches/{theirs.id}/cancel",
                                data={"_csrf_token": token})).status_code == 404
        their_batch = await stack.client().with_options(api_key=other_key) \
            .messages.batches.retrieve(theirs.id)
        assert their_batch.cancel_initiated_at is None
        canceled = await http.post(f"/ui/batches/{mine.id}/cancel", data={"_csrf_token": token})
        assert canceled.status_code == 303
        assert canceled.headers["location"] == f"/ui/batches/{mine.id}?canceled=true"
        my_batch = await stack.client().messages.batches.retrieve(mine.id)
        assert my_batch.processing_status == "ended" and my_batch.request_counts.canceled == 3

        # The API beside the dashboard is unchanged: JSON errors, no CSRF, no session.
        api = await http.get(f"/v1/messages/batches/{theirs.id}",
                             headers={"x-api-key": stack.api_key})
        assert api.status_code == 404 and api.json()["error"]["type"] == "not_found_error"


async def test_a_revoked_key_loses_the_dashboard_at_once(stack: Stack) -> None:
    async with signed_in_client(stack.api_url, stack.api_key) as http:
        assert (await http.get("/ui/batches")).status_code == 200
        async with stack.engine.begin() as conn:
            key_id = (await conn.execute(select(ApiKey.id).where(
                ApiKey.key_hash == hash_key(stack.api_key)))).scalar_one()
            assert await revoke_key(conn, key_id)
        page = await http.get("/ui/batches")
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in")
        assert (await http.get("/ui/progress", params={"ids": "x"})).status_code == 401


async def test_cost_page_scope_admin_sees_every_tenant(stack: Stack) -> None:
    async with stack.engine.begin() as conn:
        await create_key(conn, "tenant-b")
        admin = await create_key(conn, "ops", admin=True)
    async with signed_in_client(stack.api_url, stack.api_key) as http:
        own = await http.get("/ui/cost", params={"since": "7d"})
        assert own.status_code == 200 and "<svg" in own.text and '<select id="tenant"' not in own.text
        denied = await http.get("/ui/cost", params={"tenant": "tenant-b"})
        assert denied.status_code == 403 and is_page(denied)
        bad = await http.get("/ui/cost", params={"since": "forever"})
        assert bad.status_code == 400 and is_page(bad)
    async with signed_in_client(stack.api_url, admin) as http:
        every = await http.get("/ui/cost")
        assert every.status_code == 200 and '<select id="tenant"' in every.text
        assert all(f'<option value="{t}"' in every.text for t in ("ops", "tenant-a", "tenant-b"))
        one = await http.get("/ui/cost", params={"tenant": "tenant-b", "since": "90d"})
        assert one.status_code == 200 and '<option value="tenant-b" selected>' in one.text


async def test_a_nul_in_an_id_or_cursor_is_a_400_page(stack: Stack) -> None:
    async with signed_in_client(stack.api_url, stack.api_key) as http:
        for path, params in (("/ui/batches/msgbatch_%00x", {}), ("/ui/batches", {"after_id": "a\x00"}),
                             ("/ui/progress", {"ids": "msgbatch_\x00"})):
            response = await http.get(path, params=params)
            assert response.status_code == 400, (path, response.text)
            assert is_page(response) or path == "/ui/progress"
