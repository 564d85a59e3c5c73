"""Tables: payouts, one row per payout (migration 0013, its ``schedule_key`` 0017, its PayPal
receiver 0026), payout_schedules, one row per party paid out automatically (0017), and
payout_destinations, where a party is paid out outside Stripe (0026); keep them in step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime
from escrowd.payouts.domain import INTERVALS, STATUSES

ID = String(40)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Payout(Base):
    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        Index("ix_payouts_party_id", "party_id"),
        Index("ix_payouts_status", "status"),
        Index("ix_payouts_provider_payout_id", "provider_payout_id"),
        Index("uq_payouts_schedule_key", "schedule_key", unique=True),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: Whose money: a user (``usr_…``) or an organization (``org_…``).
    party_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    #: The payee's connected account (escrowd's ``acct_…`` row) and its provider id, as they
    #: were at the request: the payout happens on that account, and events must name it.
    #: None for a PayPal payout, which goes to ``receiver_email`` from the platform's balance.
    account_id: Mapped[str | None] = mapped_column(ID)
    provider: Mapped[str] = mapped_column(String(32))
    provider_account_id: Mapped[str | None] = mapped_column(String(255))
    #: A PayPal payout's receiver, copied from the party's destination at the request.
    receiver_email: Mapped[str | None] = mapped_column(String(254), default=None)
    #: The provider call's idempotency key, written with the payout (before any call).
    idempotency_key: Mapped[str] = mapped_column(String(64))
    provider_payout_id: Mapped[str | None] = mapped_column(String(255))
    requested_by: Mapped[str] = mapped_column(ID)
    reviewed_by: Mapped[str | None] = mapped_column(ID)
    #: Why an admin rejected it.
    reason: Mapped[str | None] = mapped_column(String(500))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    arrival_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: An automatic payout's ``<party>:<period>:<currency>`` (unique: once per period).
    schedule_key: Mapped[str | None] = mapped_column(String(120), default=None)


class PayoutSchedule(Base):
    """How a party's available money goes out on its own (docs/payouts.md, "Schedules")."""

    __tablename__ = "payout_schedules"
    __table_args__ = (
        CheckConstraint(_in("interval", INTERVALS), name="interval"),
        CheckConstraint("minimum_amount >= 0", name="minimum_not_negative"),
        CheckConstraint(
            "monthly_anchor IS NULL OR (monthly_anchor >= 1 AND monthly_anchor <= 31)",
            name="monthly_anchor",
        ),
    )

    party_id: Mapped[str] = mapped_column(ID, primary_key=True)
    interval: Mapped[str] = mapped_column(String(16))
    weekly_anchor: Mapped[str | None] = mapped_column(String(16))
    monthly_anchor: Mapped[int | None] = mapped_column(Integer)
    #: Below this (minor units of each currency) the period passes without a payout.
    minimum_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The first day (ISO date) of the last period the sweep handled: once per period.
    last_period: Mapped[str | None] = mapped_column(String(10))
    #: Why the sweep last paid nothing out (the payee not verified, below the minimum).
    skip_code: Mapped[str | None] = mapped_column(String(64))
    skip_message: Mapped[str | None] = mapped_column(String(500))
    skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PayoutDestination(Base):
    """Where a party's payouts go outside Stripe: their PayPal receiver email."""

    __tablename__ = "payout_destinations"

    party_id: Mapped[str] = mapped_column(ID, primary_key=True)
    paypal_email: Mapped[str | None] = mapped_column(String(254))
    updated_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
