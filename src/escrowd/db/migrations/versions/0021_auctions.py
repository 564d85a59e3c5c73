"""Seed 004's auction: artworks with a secret threshold, and bids.

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auction_artworks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("seller_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=True),
        sa.Column("winning_bid_id", sa.String(40), nullable=True),
        sa.Column("buyer_id", sa.String(40), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'pending_payment', 'sold')", name="ck_auction_artworks_status"
        ),
        sa.CheckConstraint("threshold > 0", name="ck_auction_artworks_threshold"),
    )
    op.create_index("ix_auction_artworks_status", "auction_artworks", ["status"])
    op.create_index("ix_auction_artworks_seller_id", "auction_artworks", ["seller_id"])
    op.create_table(
        "auction_bids",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "artwork_id",
            sa.String(40),
            sa.ForeignKey("auction_artworks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("bidder_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('not_winning', 'winning', 'won', 'lapsed', 'refunded')",
            name="ck_auction_bids_status",
        ),
        sa.CheckConstraint("amount > 0", name="ck_auction_bids_amount"),
        sa.UniqueConstraint("escrow_id", name="uq_auction_bids_escrow_id"),
    )
    op.create_index("ix_auction_bids_artwork_id", "auction_bids", ["artwork_id"])
    op.create_index("ix_auction_bids_bidder_id", "auction_bids", ["bidder_id"])


def downgrade() -> None:
    op.drop_table("auction_bids")
    op.drop_table("auction_artworks")
