"""ORM models: the schema's single Python description (Alembic's autogenerate compares to it).

Hand-written SQL for hot paths lives in ``app/sql/queries.sql``; the ORM is for plain CRUD.
Invariants live in the schema as named CHECK constraints.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REQUEST_STATUSES = ("queued", "running", "succeeded", "errored", "canceled", "expired")
TERMINAL_STATUSES = ("succeeded", "errored", "canceled", "expired")
BATCH_MODES = ("realtime", "provider_batch", "auto")
PROVIDER_BATCH_STATUSES = ("pending", "submitted", "ended", "done")

Money = Numeric(20, 10)
# Batch ids are ULIDs: byte order ("C" collation) is creation order, whatever the locale.
BatchId = Text(collation="C")
Timestamp = DateTime(timezone=True)


WEBHOOK_STATUSES = ("pending", "delivered", "failed")
# 244 random bits from two v4 UUIDs: gen_random_uuid() is built in from Postgres 13.
WEBHOOK_SECRET_SQL = ("'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, "
                      "'-', '')")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("monthly_budget_usd >= 0", name="budget_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    monthly_budget_usd: Mapped[Decimal | None] = mapped_column(Money)
    """NULL: no budget. Else submissions and calls are held to it per UTC calendar month."""
    webhook_secret: Mapped[str] = mapped_column(Text, server_default=text(WEBHOOK_SECRET_SQL))
    """Signs the tenant's webhook deliveries (HMAC-SHA256); ``batchmill webhooks secret``."""


class TenantSpend(Base):
    """A tenant's spend this month, kept as it happens so budget checks need no aggregate:
    ``spent`` is the settled cost of finished calls, ``reserved`` the worst case of calls in
    flight. Invariant kept by ``budget_reserve``: spent + reserved <= budget at reservation."""

    __tablename__ = "tenant_spend"
    __table_args__ = (
        CheckConstraint("spent >= 0 AND reserved >= 0", name="non_negative"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    spent: Mapped[Decimal] = mapped_column(Money, server_default="0")
    reserved: Mapped[Decimal] = mapped_column(Money, server_default="0")


class ApiKey(Base):
    """Only the SHA-256 of a key is stored; ``prefix`` lets people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    prefix: Mapped[str] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean, server_default="false")
    """An admin key sees every tenant in reports; batches still belong to its own tenant."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Batch(Base):
    """A Message Batch. Request counts are kept on the row, updated in the transaction that
    changes a request's status, so status reads are O(1) and the batch ends exactly once."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(_in("mode", BATCH_MODES), name="mode"),
        CheckConstraint(
            "processing_count + succeeded_count + errored_count + canceled_count"
            " + expired_count = request_count",
            name="counts_add_up",
        ),
        CheckConstraint("(processing_count = 0) = (ended_at IS NOT NULL)", name="ended_iff_done"),
        CheckConstraint("request_count BETWEEN 1 AND 100000", name="request_count"),
        CheckConstraint(
            "processing_count >= 0 AND succeeded_count >= 0 AND errored_count >= 0"
            " AND canceled_count >= 0 AND expired_count >= 0",
            name="counts_non_negative",
        ),
        Index("ix_batches_tenant_id_id", "tenant_id", "id"),
        Index("ix_batches_expires_at_open", "expires_at", postgresql_where=text("ended_at IS NULL")),
        Index("ix_batches_created_at_unarchived", "created_at",
              postgresql_where=text("archived_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(BatchId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    mode: Mapped[str] = mapped_column(Text, server_default="realtime")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    callback_url: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    request_count: Mapped[int] = mapped_column(Integer)
    processing_count: Mapped[int] = mapped_column(Integer)
    succeeded_count: Mapped[int] = mapped_column(Integer, server_default="0")
    errored_count: Mapped[int] = mapped_column(Integer, server_default="0")
    canceled_count: Mapped[int] = mapped_column(Integer, server_default="0")
    expired_count: Mapped[int] = mapped_column(Integer, server_default="0")
    cost: Mapped[Decimal] = mapped_column(Money, server_default="0")
    """Cost so far: the sum of its priced llm_calls, added with each call's record."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(
        Timestamp, server_default=text("now() + interval '24 hours'")
    )
    ended_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cancel_initiated_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Request(Base):
    """One request of a batch. It reaches exactly one terminal status, once."""

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("batch_id", "custom_id"),
        UniqueConstraint("batch_id", "position"),
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
        CheckConstraint(
            f"({_in('status', TERMINAL_STATUSES)}) = (finished_at IS NOT NULL)",
            name="terminal_iff_finished",
        ),
        # Archiving removes params, result and error together: until then they are kept.
        CheckConstraint("status <> 'succeeded' OR result IS NOT NULL OR params IS NULL",
                        name="succeeded_has_result"),
        CheckConstraint("status <> 'errored' OR error IS NOT NULL OR params IS NULL",
                        name="errored_has_error"),
        CheckConstraint("custom_id ~ '^[a-zA-Z0-9_-]{1,64}$'", name="custom_id"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[str] = mapped_column(BatchId, ForeignKey("batches.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    custom_id: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    model: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_creation_input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_read_input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    queued_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    provider_batch_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("provider_batches.id", ondelete="SET NULL"), index=True)
    """For mode provider_batch: the provider Message Batch the request was (or will be)
    sent in; its custom_id there is ``r<id>``."""


class ProviderBatch(Base):
    """A provider Message Batch carrying requests of one provider_batch-mode batch.

    ``pending``: its requests are chosen, not yet accepted by the provider (``submit_started_at``
    set once an attempt began: a crash may have left one at the provider, adopted on retry);
    ``submitted``: the provider has it (``provider_batch_id``), polled until it ends;
    ``ended``: the provider has ended it, its results are being recorded; ``done``: every
    result recorded (or nothing was left to send)."""

    __tablename__ = "provider_batches"
    __table_args__ = (
        CheckConstraint(_in("status", PROVIDER_BATCH_STATUSES), name="status"),
        CheckConstraint("status NOT IN ('submitted', 'ended') OR provider_batch_id IS NOT NULL",
                        name="submitted_has_provider_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[str] = mapped_column(BatchId, ForeignKey("batches.id", ondelete="CASCADE"),
                                          index=True)
    provider_batch_id: Mapped[str | None] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    request_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    submit_started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cancel_sent_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    done_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class LlmCall(Base):
    """One provider call: the truth for spend (a duplicate call after a crash is real money).

    The row is written when the attempt is claimed, before the call goes out, and completed
    when it returns: a call whose worker died stays visible, ``finished_at`` NULL, outcome
    unknown, instead of vanishing."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        CheckConstraint("attempt >= 1", name="attempt"),
        UniqueConstraint("request_id", "attempt"),
        Index("ix_llm_calls_started_at", "started_at"),
        Index("ix_llm_calls_batch_id", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    # Denormalised so spend reports need no joins and survive the deletion of a batch.
    batch_id: Mapped[str] = mapped_column(BatchId)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(Text)
    via_provider_batch: Mapped[bool] = mapped_column(Boolean, server_default="false")
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    latency_seconds: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(Text)
    provider_request_id: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cache_creation_5m_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cache_creation_1h_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cost: Mapped[Decimal | None] = mapped_column(Money)


class ModelPrice(Base):
    """USD per million tokens for a model from ``effective_from`` on; calls through the
    provider's Message Batches API pay ``1 - batch_discount`` of these."""

    __tablename__ = "model_prices"
    __table_args__ = (
        CheckConstraint(
            "input_per_mtok >= 0 AND output_per_mtok >= 0 AND cache_write_5m_per_mtok >= 0"
            " AND cache_write_1h_per_mtok >= 0 AND cache_read_per_mtok >= 0",
            name="non_negative",
        ),
        CheckConstraint("batch_discount >= 0 AND batch_discount < 1", name="batch_discount"),
    )

    model: Mapped[str] = mapped_column(Text, primary_key=True)
    effective_from: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    input_per_mtok: Mapped[Decimal] = mapped_column(Money)
    output_per_mtok: Mapped[Decimal] = mapped_column(Money)
    cache_write_5m_per_mtok: Mapped[Decimal] = mapped_column(Money)
    cache_write_1h_per_mtok: Mapped[Decimal] = mapped_column(Money)
    cache_read_per_mtok: Mapped[Decimal] = mapped_column(Money)
    batch_discount: Mapped[Decimal] = mapped_column(Numeric(4, 3), server_default="0.5")


class RateLimit(Base):
    """One provider rate-limit bucket set: requests, input tokens and output tokens per
    minute for one model under one provider key (``scope``: a fingerprint of the key).

    Shared by every worker through ``batchmill_rate_acquire_v1`` (an atomic
    check-and-take under the row lock). A NULL limit is unlimited. ``*_available`` may dip
    below zero when real usage exceeds an estimate; refills bring it back.
    """

    __tablename__ = "rate_limits"
    __table_args__ = (
        CheckConstraint("rpm > 0 AND itpm > 0 AND otpm > 0", name="positive"),
    )

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    rpm: Mapped[int | None] = mapped_column(Integer)
    itpm: Mapped[int | None] = mapped_column(Integer)
    otpm: Mapped[int | None] = mapped_column(Integer)
    requests_available: Mapped[float] = mapped_column(Double, server_default="0")
    input_available: Mapped[float] = mapped_column(Double, server_default="0")
    output_available: Mapped[float] = mapped_column(Double, server_default="0")
    refilled_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    paused_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    source: Mapped[str] = mapped_column(Text, server_default="config")
    granted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    waits: Mapped[int] = mapped_column(BigInteger, server_default="0")
    throttled: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ModelRoute(Base):
    """Routing as data: a request whose ``model`` names a route is sent to the ``model`` of
    the route's first rule (lowest ``rank``) that matches its task type (NULL: any) and whose
    ``max_input_chars`` (NULL: any) its input stays under."""

    __tablename__ = "model_routes"

    route: Mapped[str] = mapped_column(Text, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_type: Mapped[str | None] = mapped_column(Text)
    max_input_chars: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(Text)


class WebhookEvent(Base):
    """A batch with a callback_url ended: one event, delivered at least once (receivers
    dedupe on its id). Created by the ``batchmill_batch_ended_v1`` trigger in the
    transaction that ends the batch, with the job that delivers it."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        CheckConstraint(_in("status", WEBHOOK_STATUSES), name="status"),
        Index("ix_webhook_events_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    batch_id: Mapped[str] = mapped_column(BatchId, ForeignKey("batches.id", ondelete="CASCADE"),
                                          index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    payload: Mapped[str | None] = mapped_column(Text)
    """The body as first sent (every retry sends the same bytes)."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class WebhookAttempt(Base):
    """One POST of an event: when, how long, and what came back (status or error)."""

    __tablename__ = "webhook_attempts"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    latency_seconds: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
