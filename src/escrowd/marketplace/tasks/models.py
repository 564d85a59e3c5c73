"""The task marketplace's tables: tasks and the bids doers (users or organizations) place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Task(Base):
    __tablename__ = "task_tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'assigned', 'completed', 'cancelled')", name="status"),
        Index("ix_task_tasks_status", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    #: The accepted bid's doer: a user (``usr_…``) or an organization (``org_…``).
    doer_id: Mapped[str | None] = mapped_column(ID, index=True)
    accepted_bid_id: Mapped[str | None] = mapped_column(ID)
    #: The escrow the customer pays (payer: the customer; one allocation: the doer).
    escrow_id: Mapped[str | None] = mapped_column(ID, ForeignKey("escrows.id"), unique=True)
    #: ``customer`` or ``doer_account_deauthorized`` once cancelled.
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskBid(Base):
    __tablename__ = "task_bids"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'rejected')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(
        ID, ForeignKey("task_tasks.id", ondelete="CASCADE"), index=True
    )
    #: Who does the work and is paid: the bidding user, or the organization it bid for.
    doer_id: Mapped[str] = mapped_column(ID, index=True)
    #: The user who placed the bid (the doer itself, or a member of the doer organization).
    placed_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
