"""The async SQLAlchemy engine (asyncpg). Built by a composition root, never at import."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.settings import DatabaseUrl


def create_engine(url: DatabaseUrl, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url.asyncpg,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping (a round trip per checkout): a connection that died is invalidated on
        # its first error, and the job that hit it runs again.
        connect_args={"server_settings": {"application_name": "batchmill"}},
    )
