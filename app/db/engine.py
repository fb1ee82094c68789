"""The async SQLAlchemy engine (asyncpg). Built by a composition root, never at import."""
from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.settings import DatabaseUrl


def create_engine(url: DatabaseUrl, *, pool_size: int = 10, pre_ping: bool = False) -> AsyncEngine:
    """``pre_ping`` tests each connection as it leaves the pool (one round trip): the API
    wants it, so a Postgres restart costs no failed request; the worker does without, since a
    job that meets a dead connection simply runs again."""
    return create_async_engine(
        url.asyncpg,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        connect_args={"server_settings": {"application_name": "batchmill"}},
    )


def is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` means Postgres cannot be reached right now (down, restarting,
    failing over, or the connection dropped) rather than that a statement failed."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig.__cause__ or exc.orig if exc.orig is not None else exc
    return isinstance(exc, (OSError, asyncpg.PostgresConnectionError,
                            asyncpg.exceptions.OperatorInterventionError,
                            asyncpg.InterfaceError))
