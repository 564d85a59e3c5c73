"""The gig's table: who hires whom, and the escrow that holds the payment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Gig(Base):
    __tablename__ = "gigs"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        # The client's Idempotency-Key: a retry finds its gig even after the API's stored
        # response is gone, so a gig is never authorized twice.
        UniqueConstraint("client_id", "idempotency_key", name="uq_gigs_client_key"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    expert_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: The gig's status is its escrow's (domain.status_of).
    escrow_id: Mapped[str] = mapped_column(ID, ForeignKey("escrows.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
