"""The dashboard: server-rendered pages at ``/ui`` for people, beside the API for programs.

Sign in with an API key; see the tenant's batches with live progress, one batch's counts,
throughput, errors, cost and outputs (and cancel it), and spend by day and by model. Templates
and static files ship inside this package; nothing loads from a CDN, and the pages' content
security policy allows only this origin. The router carries its own session and CSRF
middleware, error pages and headers, so the API's routes are untouched by any of it; it stays
out of the OpenAPI schema.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from sqlalchemy.exc import DBAPIError

from app.errors import BatchmillError
from app.settings import Settings
from app.ui import errors, views
from app.ui.session import Sessions, SignInRequired
from app.ui.routes import DashboardController, SessionController

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _when(value: dt.datetime | None) -> str:
    return "—" if value is None else f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _register_filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        when=_when, usd=views.usd, num=lambda value: f"{value or 0:,}")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The app's template engine (Litestar has one per app): the dashboard's templates."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                          engine_callback=_register_filters)


def dashboard_router(settings: Settings) -> Router:
    """``/ui`` with its pages, static files, session and CSRF middleware and HTML errors.
    The session secret is ``BATCHMILL_SESSION_SECRET`` (random per process when unset)."""
    sessions = Sessions.from_passphrase(settings.session_secret,
                                        secure=(settings.public_url or "").startswith("https://"))

    def provide_sessions() -> Sessions:
        return sessions

    return Router(
        path="/ui",
        route_handlers=[SessionController, DashboardController,
                        create_static_files_router(path="/static", directories=[STATIC])],
        dependencies={"sessions": Provide(provide_sessions, sync_to_thread=False)},
        middleware=[sessions.csrf_middleware()],
        exception_handlers={
            SignInRequired: errors.redirect_to_sign_in,
            BatchmillError: errors.error_page,
            HTTPException: errors.error_page,
            DBAPIError: errors.error_page,
            OSError: errors.error_page,
            Exception: errors.error_page,
        },
        response_headers=[
            ResponseHeader(name="content-security-policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="x-content-type-options", value="nosniff"),
            ResponseHeader(name="referrer-policy", value="same-origin"),
        ],
        include_in_schema=False,
    )
