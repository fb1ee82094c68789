"""Dashboard sign-in: an API key buys a signed session cookie, checked again on every request.

The session lives in the cookie itself, HMAC-SHA256-signed with ``BATCHMILL_SESSION_SECRET``,
so any number of API replicas serve it without shared state as long as they share the secret
(unset: a random secret per process, and sessions end when the process does). The cookie holds
the key's SHA-256 digest — never the key, and the digest authenticates nothing by itself — and
its expiry; each request looks the digest up again through ``api_key_authenticate``, so a
revoked key loses the dashboard at its next click. The cookie is ``HttpOnly``,
``SameSite=Lax``, scoped to ``/ui``, and ``Secure`` when the public URL is https.

Forms (sign-in, sign-out, cancel) are protected by Litestar's CSRF middleware on the ``/ui``
router: a double-submit token, HMAC-signed with a key derived from the same secret, that every
POST must echo in a hidden field.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TypeAlias

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware

from app.api.dependencies import Engine
from app.keys import Principal, hash_key
from app.sql import queries

SESSION_MAX_AGE_SECONDS = 12 * 3600
"""A session ends 12 hours after sign-in (or at once when its key is revoked)."""
COOKIE_PATH = "/ui"
SESSION_COOKIE = "batchmill_session"
CSRF_COOKIE = "batchmill_csrf"


class SignInRequired(Exception):
    """No valid session, or its key was revoked: the dashboard asks for a key again."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Sessions:
    """Issues and reads session cookies with one secret."""

    secret: bytes
    secure: bool = False
    max_age: int = SESSION_MAX_AGE_SECONDS

    @classmethod
    def from_passphrase(cls, value: str | None, *, secure: bool) -> Sessions:
        """32 bytes from any passphrase; a random secret when none is set."""
        secret = hashlib.sha256(value.encode()).digest() if value else secrets.token_bytes(32)
        return cls(secret, secure)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def encode(self, key: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.max_age)
        payload = _b64(json.dumps({"k": hash_key(key), "exp": expires}).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str | None, now: float | None = None) -> str | None:
        """The key digest of a genuine, unexpired cookie value; None otherwise."""
        payload, _, signature = (value or "").partition(".")
        if not payload or not hmac.compare_digest(signature.encode(),
                                                  self._sign(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < (now or time.time()):
            return None
        key_hash = data.get("k")
        return key_hash if isinstance(key_hash, str) else None

    def cookie(self, key: str | None) -> Cookie:
        """The cookie that starts a session for ``key``, or (None) ends the current one."""
        return Cookie(key=SESSION_COOKIE, value=self.encode(key) if key else "",
                      max_age=self.max_age if key else 0, path=COOKIE_PATH, httponly=True,
                      samesite="lax", secure=self.secure)

    def csrf_middleware(self) -> DefineMiddleware:
        """Litestar's CSRF middleware for the ``/ui`` router (the API itself has none)."""
        return DefineMiddleware(CSRFMiddleware, config=CSRFConfig(
            secret=hmac.new(self.secret, b"batchmill csrf", hashlib.sha256).hexdigest(),
            cookie_name=CSRF_COOKIE, cookie_path=COOKIE_PATH, cookie_httponly=True,
            cookie_samesite="lax", cookie_secure=self.secure))


SessionStore: TypeAlias = NamedDependency[Sessions]
"""Inject as ``sessions``: the ``/ui`` router's one ``Sessions``."""

Viewer: TypeAlias = NamedDependency[Principal]
"""Inject as ``viewer``: the signed-in tenant (a redirect to the sign-in form otherwise)."""


async def provide_viewer(request: Request, engine: Engine, sessions: SessionStore) -> Principal:
    """The signed-in tenant, its key re-checked now; ``SignInRequired`` otherwise."""
    key_hash = sessions.decode(request.cookies.get(SESSION_COOKIE))
    if key_hash is None:
        raise SignInRequired
    async with engine.connect() as conn:
        row = (await conn.execute(queries["api_key_authenticate"], {"key_hash": key_hash})).first()
    if row is None:  # revoked since sign-in
        raise SignInRequired
    return Principal(row.tenant_id, row.tenant_name, row.admin)

