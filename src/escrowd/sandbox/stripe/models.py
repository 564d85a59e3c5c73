"""The sandbox tables (migration 0005), as SQLAlchemy Core tables: the request path is lean."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from escrowd.db.base import Base

_SEQ = BigInteger().with_variant(Integer(), "sqlite")

objects = Table(
    "sandbox_stripe_objects",
    Base.metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(96), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("account", String(64), nullable=False),
    Column("parent", String(96)),
    Column("created", BigInteger, nullable=False),
    Column("due_at", BigInteger),
    Column("data", Text, nullable=False),
    Column("private", Text),
)

idempotency = Table(
    "sandbox_stripe_idempotency",
    Base.metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

events = Table(
    "sandbox_stripe_events",
    Base.metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("type", String(80), nullable=False),
    Column("account", String(64)),
    Column("created", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text),
)

balance = Table(
    "sandbox_stripe_balance",
    Base.metadata,
    Column("id", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("available_on", BigInteger, nullable=False),
)

clock = Table(
    "sandbox_stripe_clock",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("offset_seconds", BigInteger, nullable=False),
)
