"""API shapes of the auction: an artwork (its threshold shown to its seller and admins only)
and a bid."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from escrowd.api.schemas import ApiObject, Currency, PositiveAmountInt, RequestModel
from escrowd.clock import unix
from escrowd.marketplace.auctions.domain import ArtworkStatus, BidStatus
from escrowd.marketplace.auctions.models import Artwork, Bid


class ArtworkCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    currency: Currency = Field(min_length=3, max_length=3)
    threshold: PositiveAmountInt = Field(
        description="The secret price, in minor units: the first bid at or above it wins. "
        "Only you (the seller) and admins ever see it."
    )


class BidCreate(RequestModel):
    amount: PositiveAmountInt
    currency: Currency = Field(min_length=3, max_length=3)


class ArtworkObject(ApiObject):
    id: str = Field(description="art_…")
    object: Literal["artwork"] = "artwork"
    seller: str
    title: str
    currency: str
    status: ArtworkStatus
    threshold: int | None = Field(
        description="The secret threshold: its seller and admins see it, everyone else null."
    )
    escrow: str | None = Field(
        description="The winning bid's escrow (esc_…) while the artwork is pending payment or "
        "sold: its seller, its buyer and admins see it, everyone else null."
    )
    created: int


class BidObject(ApiObject):
    id: str = Field(description="bid_…")
    object: Literal["bid"] = "bid"
    artwork: str
    bidder: str
    amount: int
    currency: str
    status: BidStatus
    escrow: str | None = Field(
        description="For a winning bid, the escrow its bidder pays (POST /v1/escrows/{id}/fund) "
        "within 10 minutes."
    )
    created: int


def artwork_json(row: Artwork, *, viewer: str | None, admin: bool) -> ArtworkObject:
    """The seller and admins see the threshold; they and the winning bidder see the escrow."""
    insider = admin or viewer == row.seller_id
    buyer = viewer is not None and viewer == row.buyer_id
    return ArtworkObject(
        id=row.id,
        seller=row.seller_id,
        title=row.title,
        currency=row.currency,
        status=ArtworkStatus(row.status),
        threshold=row.threshold if insider else None,
        escrow=row.escrow_id if insider or buyer else None,
        created=unix(row.created_at),
    )


def bid_json(row: Bid) -> BidObject:
    return BidObject(
        id=row.id,
        artwork=row.artwork_id,
        bidder=row.bidder_id,
        amount=row.amount,
        currency=row.currency,
        status=BidStatus(row.status),
        escrow=row.escrow_id,
        created=unix(row.created_at),
    )
