"""The dashboard's pages: thin handlers that read through ``app.ui.views`` and render templates.

``SessionController`` signs in and out; ``DashboardController`` needs a session (its
``viewer`` dependency redirects to the sign-in form otherwise) and shows the signed-in tenant's
batches, one batch, the cost page, and ``/ui/progress``, the small JSON the live progress bars
poll. Cancelling goes through ``app.batches.cancel_batch`` in a transaction, as the API's does.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, MediaType, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from app import batches
from app.api.dependencies import Engine
from app.errors import InvalidRequest, PermissionDenied
from app.keys import authenticate
from app.ui import views
from app.ui.session import SessionStore, Viewer, provide_viewer

NO_STORE = CacheControlHeader(no_store=True)
BATCHES_PATH = "/ui/batches"
Cursor = Annotated[str | None, QueryParameter(max_length=100)]


@dataclass
class SignInForm:
    api_key: str = ""
    next: str = ""


def _safe_next(target: str) -> str:
    """Only a dashboard page may be the target after sign-in (no open redirect)."""
    return target if target.startswith("/ui/") else BATCHES_PATH


def _sign_in_form(*, next_page: str, error: str | None = None,
                  status_code: int = 200) -> Template:
    return Template(template_name="sign_in.html", status_code=status_code,
                    media_type=MediaType.HTML, context={"next": next_page, "error": error})


class SessionController(Controller):
    path = "/"
    cache_control = NO_STORE

    @get("/")
    async def home(self) -> Redirect:
        return Redirect(BATCHES_PATH, status_code=303)

    @get("/sign-in")
    async def sign_in_form(self, next_page: Annotated[str, QueryParameter(
            name="next", max_length=2000)] = BATCHES_PATH) -> Template:
        return _sign_in_form(next_page=_safe_next(next_page))

    @post("/sign-in", status_code=303)
    async def sign_in(self, engine: Engine, sessions: SessionStore, data: Annotated[
            SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Any:
        key = data.api_key.strip()
        async with engine.connect() as conn:
            principal = await authenticate(conn, key) if key else None
        if principal is None:
            return _sign_in_form(next_page=_safe_next(data.next), status_code=401,
                                 error="That API key is unknown or has been revoked.")
        return Redirect(_safe_next(data.next), status_code=303, cookies=[sessions.cookie(key)])

    @post("/sign-out", status_code=303)
    async def sign_out(self, sessions: SessionStore) -> Redirect:
        return Redirect("/ui/sign-in", status_code=303, cookies=[sessions.cookie(None)])


class DashboardController(Controller):
    path = "/"
    cache_control = NO_STORE
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/batches")
    async def batch_list(self, engine: Engine, viewer: Viewer, after_id: Cursor = None,
                         before_id: Cursor = None) -> Template:
        if after_id is not None and before_id is not None:
            raise InvalidRequest("Pass at most one of after_id and before_id.")
        async with engine.connect() as conn:
            page = await views.batch_page(conn, viewer, after_id=after_id, before_id=before_id)
        return Template(template_name="batches.html",
                        context={"viewer": viewer, "nav": "batches", "page": page})

    @get("/batches/{batch_id:str}")
    async def batch_detail(self, engine: Engine, viewer: Viewer, batch_id: FromPath[str],
                           canceled: FromQuery[bool] = False) -> Template:
        async with engine.connect() as conn:
            detail = await views.batch_detail(conn, viewer, batch_id, dt.datetime.now(dt.UTC))
        return Template(template_name="batch.html", context={
            "viewer": viewer, "nav": "batches", "just_canceled": canceled, **detail})

    @post("/batches/{batch_id:str}/cancel", status_code=303)
    async def cancel(self, engine: Engine, viewer: Viewer,
                     batch_id: FromPath[str]) -> Redirect:
        async with engine.begin() as conn:
            await batches.cancel_batch(conn, viewer.tenant_id, batch_id)
        return Redirect(f"{BATCHES_PATH}/{batch_id}?canceled=true", status_code=303)

    @get("/progress")
    async def progress(self, engine: Engine, viewer: Viewer, ids: Annotated[
            str, QueryParameter(max_length=views.MAX_POLLED * 101)] = "") -> dict[str, Any]:
        wanted = [i for i in ids.split(",") if i][:views.MAX_POLLED]
        async with engine.connect() as conn:
            return {"batches": await views.polled(conn, viewer, wanted)}

    @get("/cost")
    async def cost(self, engine: Engine, viewer: Viewer,
                   since: Annotated[str, QueryParameter(max_length=10)] = views.DEFAULT_RANGE,
                   tenant: Annotated[str | None, QueryParameter(max_length=200)] = None) -> Template:
        if tenant and not viewer.admin and tenant != viewer.tenant_name:
            raise PermissionDenied("Only an admin key may see another tenant's costs.")
        async with engine.connect() as conn:
            page = await views.cost_page(conn, viewer, since=since,
                                         tenant=tenant if viewer.admin else None,
                                         today=dt.datetime.now(dt.UTC).date())
        return Template(template_name="cost.html",
                        context={"viewer": viewer, "nav": "cost", **page})
