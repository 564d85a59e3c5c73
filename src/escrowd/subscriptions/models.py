"""Tables: plans, subscriptions (migration 0018; keep them in step)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime
from escrowd.subscriptions.domain import STATUSES

ID = String(40)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(_in("audience", ("user", "organization")), name="audience"),
    )

    #: ``starter``, ``pro``, ``team``: the name callers and the API use.
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))
    #: Limit name → count, or null for unlimited.
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    audience: Mapped[str] = mapped_column(String(16))
    #: Where a plan's owner goes when a limit is reached (its code), if anywhere.
    upgrade_to: Mapped[str | None] = mapped_column(String(40))
    #: The provider's product and recurring price, made on the first paid subscription.
    provider_product_id: Mapped[str | None] = mapped_column(String(255))
    provider_price_id: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        # One live subscription per owner: ``live_owner`` is the owner while the subscription
        # is incomplete, active or past_due, and NULL after (NULLs never collide).
        UniqueConstraint("live_owner", name="uq_subscriptions_live_owner"),
        Index("ix_subscriptions_owner_id", "owner_id"),
        Index("ix_subscriptions_provider_subscription_id", "provider_subscription_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: Whose plan: a user (``usr_…``) or an organization (``org_…``).
    owner_id: Mapped[str] = mapped_column(ID)
    live_owner: Mapped[str | None] = mapped_column(ID)
    #: The person who subscribed and whose card pays (an admin, for an organization).
    payer_id: Mapped[str] = mapped_column(ID)
    plan_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255))
    #: The create call's idempotency key, written before the call.
    idempotency_key: Mapped[str] = mapped_column(String(80))
    #: Plan changes applied so far: part of the next change's idempotency key.
    plan_changes: Mapped[int] = mapped_column(Integer)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latest_invoice: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
