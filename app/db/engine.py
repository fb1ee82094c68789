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


UNSTORABLE_CHARACTER_STATES = frozenset({"22021", "22P05"})
"""SQLSTATEs of a value Postgres cannot hold: character_not_in_repertoire (a NUL in text) and
untranslatable_character (``\\u0000`` in jsonb). Such a value can only come from the request
(an id, a cursor, a tenant name), so it is the caller's error, not the server's."""


def is_unstorable_input(exc: Exception) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in UNSTORABLE_CHARACTER_STATES
