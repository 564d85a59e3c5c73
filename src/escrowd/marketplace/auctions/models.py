"""The auction's tables: artworks (with their secret threshold) and bids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Artwork(Base):
    __tablename__ = "auction_artworks"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'pending_payment', 'sold')", name="status"),
        CheckConstraint("threshold > 0", name="threshold"),
        Index("ix_auction_artworks_status", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seller_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    #: The secret: shown to the seller and admins only (schemas.artwork_json).
    threshold: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24))
    #: The winning bid's escrow while it is pending or sold.
    escrow_id: Mapped[str | None] = mapped_column(ID, ForeignKey("escrows.id"))
    winning_bid_id: Mapped[str | None] = mapped_column(ID)
    #: The winning bidder while pending or sold (sees the escrow to pay).
    buyer_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Bid(Base):
    __tablename__ = "auction_bids"
    __table_args__ = (
        CheckConstraint(
            "status IN ('not_winning', 'winning', 'won', 'lapsed', 'refunded')", name="status"
        ),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    artwork_id: Mapped[str] = mapped_column(
        ID, ForeignKey("auction_artworks.id", ondelete="CASCADE"), index=True
    )
    bidder_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    escrow_id: Mapped[str | None] = mapped_column(ID, ForeignKey("escrows.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
