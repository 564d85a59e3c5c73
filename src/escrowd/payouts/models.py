"""Table: payouts, one row per payout a payee asked for (migration 0013; keep them in step)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime
from escrowd.payouts.domain import STATUSES

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
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: Whose money: a user (``usr_…``) or an organization (``org_…``).
    party_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    #: The payee's connected account (escrowd's ``acct_…`` row) and its provider id, as they
    #: were at the request: the payout happens on that account, and events must name it.
    account_id: Mapped[str] = mapped_column(ID)
    provider: Mapped[str] = mapped_column(String(32))
    provider_account_id: Mapped[str] = mapped_column(String(255))
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
