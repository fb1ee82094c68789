"""Authentication: the key arrives as ``x-api-key`` or ``Authorization: Bearer``."""
from __future__ import annotations

from litestar import Request

from app.api.dependencies import Engine
from app.errors import AuthenticationFailed
from app.keys import Principal, authenticate


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def provide_principal(request: Request, engine: Engine) -> Principal:
    key = presented_key(request)
    if not key:
        raise AuthenticationFailed("x-api-key header is required.")
    async with engine.connect() as conn:
        principal = await authenticate(conn, key)
    if principal is None:
        raise AuthenticationFailed("invalid x-api-key")
    return principal
