"""Handler dependencies, named as Litestar injects them (parameter name = dependency key)."""
from __future__ import annotations

from typing import TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine

from app.keys import Principal

Engine: TypeAlias = NamedDependency[AsyncEngine]
"""Inject as ``engine``: the app's one async engine."""

Caller: TypeAlias = NamedDependency[Principal]
"""Inject as ``principal``: the authenticated tenant (401 before the handler runs otherwise)."""

PublicUrl: TypeAlias = NamedDependency[str]
"""Inject as ``public_url``: where clients reach this API (for ``results_url``)."""


def provide_engine(state: State) -> AsyncEngine:
    return state.engine  # type: ignore[no-any-return]


def provide_public_url(request: Request, state: State) -> str:
    """BATCHMILL_PUBLIC_URL when set (behind a proxy), else the URL this request came to."""
    return str(state.public_url or request.base_url).rstrip("/")
