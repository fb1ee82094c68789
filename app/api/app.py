"""The API's composition root: routes, dependencies, error mapping and lifecycle."""
from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.types import Message, Scope
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app import __version__, ids
from app.api.auth import provide_principal
from app.api.batches import BatchesController
from app.api.dependencies import provide_engine, provide_public_url
from app.api.health import HealthController
from app.api.metrics import count_requests, serve_metrics
from app.api.webhooks import WebhooksController
from app.api.reports import ReportsController
from app.api.errors import (
    handle_database_error,
    handle_domain_error,
    handle_http_exception,
    handle_unexpected,
)
from app.db.engine import create_engine
from app.errors import BatchmillError
from app.serving import serve_asgi
from app.settings import Settings
from app.ui import dashboard_router, template_config

async def add_request_id(message: Message, scope: Scope) -> None:
    """Every response carries a ``request-id`` header, as Anthropic's do."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["request-id"] = f"req_{ids.ulid()}"


def create_app(settings: Settings, engine: AsyncEngine | None = None) -> Litestar:
    """Build the API. Pass ``engine`` to share one (tests, the demo); else one is made here."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or create_engine(settings.database, pool_size=settings.db_pool_size,
                                                   pre_ping=True)
        app.state.public_url = settings.public_url
        app.state.allow_private_callbacks = settings.webhooks.allow_private
        try:
            yield
        finally:
            if owned:
                await app.state.engine.dispose()

    return Litestar(
        route_handlers=[BatchesController, ReportsController, WebhooksController,
                        HealthController, serve_metrics,
                        dashboard_router(settings)],
        template_config=template_config(),  # the /ui dashboard's pages
        dependencies={
            "engine": Provide(provide_engine, sync_to_thread=False),
            "public_url": Provide(provide_public_url, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        exception_handlers={
            BatchmillError: handle_domain_error,
            DBAPIError: handle_database_error,
            OSError: handle_database_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        before_send=[add_request_id],
        middleware=[count_requests],
        logging_config=None,  # the process configures logging (batchmill CLI), not the app
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Batchmill", version=__version__, path="/docs",
            description="Anthropic's Message Batches API on Postgres. Authenticate with "
                        "`x-api-key` or `Authorization: Bearer`.",
            render_plugins=[SwaggerRenderPlugin(path="/"), ScalarRenderPlugin()],
        ),
        debug=False,
    )


async def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000,
                engine: AsyncEngine | None = None,
                sockets: Sequence[socket.socket] | None = None) -> None:
    """Serve the API until cancelled or signalled."""
    await serve_asgi(create_app(settings, engine), host=host, port=port, sockets=sockets)
