"""API keys: generated once, shown once, stored only as a SHA-256 digest plus a display prefix.

A key is 256 random bits, so an unsalted fast hash is safe (no dictionary to attack).
Authentication finds the presented key's digest through the unique index on ``key_hash``.
That probe compares digests, never keys, and its timing could at most tell an attacker how
many leading bytes of *their own guess's digest* match a stored one; SHA-256 being
preimage-resistant, that brings no guess closer to a key, so the lookup leaks nothing usable.
The digest of the row found is still checked with ``hmac.compare_digest`` (constant time), so
the decision itself never rests on a comparison that stops at the first differing byte.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import ApiKey, Tenant

KEY_PREFIX = "bm-"
DISPLAY_PREFIX_LENGTH = 10


@dataclass(frozen=True)
class Principal:
    """Who is calling: every batch belongs to the tenant of the key that created it."""

    tenant_id: int
    tenant_name: str
    admin: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def ensure_tenant(conn: AsyncConnection, name: str) -> int:
    await conn.execute(insert(Tenant).values(name=name).on_conflict_do_nothing())
    return (await conn.execute(select(Tenant.id).where(Tenant.name == name))).scalar_one()


async def create_key(conn: AsyncConnection, tenant: str, *, admin: bool = False) -> str:
    """Create a key for ``tenant`` (created if new) and return it; it is not stored anywhere.
    An ``admin`` key sees every tenant in reports."""
    tenant_id = await ensure_tenant(conn, tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        insert(ApiKey).values(
            tenant_id=tenant_id, key_hash=hash_key(key), prefix=key[:DISPLAY_PREFIX_LENGTH],
            admin=admin,
        )
    )
    return key


async def authenticate(conn: AsyncConnection, key: str) -> Principal | None:
    """The tenant of an active key, or None for an unknown or revoked one."""
    digest = hash_key(key)
    row = (await conn.execute(
        select(ApiKey.key_hash, ApiKey.tenant_id, Tenant.name.label("tenant_name"), ApiKey.admin)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))).first()
    if row is None or not hmac.compare_digest(row.key_hash.encode(), digest.encode()):
        return None
    return Principal(row.tenant_id, row.tenant_name, row.admin)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    tenant: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


async def list_keys(conn: AsyncConnection, tenant: str | None = None) -> list[KeyInfo]:
    query = (select(ApiKey.id, Tenant.name, ApiKey.prefix, ApiKey.created_at, ApiKey.revoked_at)
             .join(Tenant, Tenant.id == ApiKey.tenant_id).order_by(ApiKey.id))
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    return [KeyInfo(*row) for row in await conn.execute(query)]


async def revoke_key(conn: AsyncConnection, key_id: int) -> bool:
    """Revoke a key by id; it fails authentication from the next request on. False if no
    active key has that id."""
    revoked = await conn.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now()).returning(ApiKey.id))
    return revoked.first() is not None
