"""The job marketplace's tables: jobs and their tester slots (one per escrow allocation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class TestingJob(Base):
    __tablename__ = "testing_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'completed', 'cancelled')", name="status"),
        CheckConstraint("budget_per_tester > 0", name="budget"),
        CheckConstraint("max_testers > 0", name="max_testers"),
        Index("ix_testing_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    budget_per_tester: Mapped[int] = mapped_column(BigInteger)
    max_testers: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    escrow_id: Mapped[str | None] = mapped_column(ID, ForeignKey("escrows.id"), unique=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TestingSlot(Base):
    __tablename__ = "testing_slots"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'claimed', 'submitted', 'rejected', 'disputed', 'paid', "
            "'refunded')",
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    job_id: Mapped[str] = mapped_column(
        ID, ForeignKey("testing_jobs.id", ondelete="CASCADE"), index=True
    )
    #: The escrow allocation this slot is; its payee is the tester once claimed.
    allocation_id: Mapped[str] = mapped_column(ID, ForeignKey("escrow_allocations.id"), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    tester_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    submission: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(Text)
    dispute_id: Mapped[str | None] = mapped_column(ID)
    #: The status a dispute interrupted (``submitted`` or ``rejected``), restored if closed.
    status_before_dispute: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
