"""Tables: customers, payment_methods (migration 0008; keep the two in step).

A payer is a customer at each provider they pay through (one row per user and provider); the
cards they saved are attached to that customer and listed here, since no card number ever
reaches escrowd: only the provider's ``pm_…`` id, brand, last four digits and expiry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("provider", "provider_customer_id", name="uq_customers_provider_customer"),
    )

    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    #: The ``pm_…`` escrowd charges when the payer names none.
    default_payment_method: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (Index("ix_payment_methods_user_id_id", "user_id", "id"),)

    #: The provider's id (``pm_…``).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
