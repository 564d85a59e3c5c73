"""Tables: usage_counters, usage_records (migration 0018; keep them in step)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class UsageCounter(Base):
    """Uses of one limit by one owner in one month; the row the check-and-record locks."""

    __tablename__ = "usage_counters"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    owner_id: Mapped[str] = mapped_column(ID, primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


class UsageRecord(Base):
    """One recorded use, once per caller's key (a retried publish counts once)."""

    __tablename__ = "usage_records"
    __table_args__ = (UniqueConstraint("owner_id", "key", name="uq_usage_records_owner_key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID)
    key: Mapped[str] = mapped_column(String(255))
    limit_name: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    plan_code: Mapped[str] = mapped_column(String(40))
    recorded_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
