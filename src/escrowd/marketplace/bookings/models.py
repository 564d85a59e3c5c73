"""The handwork marketplace's tables: job postings, workers' applications, bookings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class BookingJob(Base):
    __tablename__ = "booking_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'filled')", name="status"),
        CheckConstraint("budget > 0", name="budget"),
        Index("ix_booking_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    currency: Mapped[str] = mapped_column(String(3))
    budget: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BookingApplication(Base):
    __tablename__ = "booking_applications"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'hired', 'declined')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        UniqueConstraint("job_id", "worker_id", name="uq_booking_applications_job_worker"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    job_id: Mapped[str] = mapped_column(
        ID, ForeignKey("booking_jobs.id", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    #: The worker's price for the job, in the job's currency.
    amount: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status IN ('hired', 'completed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    job_id: Mapped[str] = mapped_column(ID, ForeignKey("booking_jobs.id"), unique=True)
    application_id: Mapped[str] = mapped_column(
        ID, ForeignKey("booking_applications.id"), unique=True
    )
    client_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    worker_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The platform fee rate the booking was hired at (ESCROWD_BOOKINGS_FEE_BPS then).
    fee_bps: Mapped[int] = mapped_column(Integer)
    #: The work's state; the money's is the escrow's (schemas.payment_status).
    status: Mapped[str] = mapped_column(String(16))
    escrow_id: Mapped[str] = mapped_column(ID, ForeignKey("escrows.id"), unique=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
