"""The auction's pure rules: who wins, when an artwork takes bids, and how it follows its
winning bid's escrow. No database, no web."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from escrowd.errors import ConflictError, InvalidRequestError

#: Seed 004: the winner has 10 minutes to pay.
PAYMENT_WINDOW_SECONDS = 600
#: Direct sale: no platform fee; the seller bears the card processor's actual fee (the seed
#: folds Stripe's fee into the bid), and the money is theirs as soon as it is paid
#: (no inspection period).
FEE_POLICY = {
    "rate_bps": 0,
    "fixed": 0,
    "processing_bearer": "payee",
    "processing_mode": "actual_pro_rata",
}
INSPECTION_PERIOD_SECONDS = 0


class ArtworkStatus(StrEnum):
    active = "active"
    pending_payment = "pending_payment"
    sold = "sold"


class BidStatus(StrEnum):
    #: Below the threshold: kept, never told by how much.
    not_winning = "not_winning"
    #: At or above it: the artwork waits for this bidder's payment.
    winning = "winning"
    #: Paid: the artwork is sold to this bidder.
    won = "won"
    #: The payment window ran out, or the payment failed.
    lapsed = "lapsed"
    #: An admin refunded the sale.
    refunded = "refunded"


def wins(amount: int, threshold: int) -> bool:
    return amount >= threshold


def check_bid(status: str, *, amount: int, currency: str, artwork_currency: str) -> None:
    """A bid is taken only while the artwork is on sale. The refusals never name the
    threshold: they say what the artwork is doing, not what it costs."""
    if status == ArtworkStatus.pending_payment:
        raise ConflictError(
            "This artwork is waiting for a winning bidder's payment; it takes no bids until "
            "the payment succeeds or its window ends.",
            code="artwork_pending_payment",
        )
    if status == ArtworkStatus.sold:
        raise ConflictError("This artwork is sold.", code="artwork_sold")
    if currency != artwork_currency:
        raise InvalidRequestError(
            f"This artwork is sold in {artwork_currency.upper()}; bid in that currency.",
            code="currency_mismatch",
            param="currency",
        )
    if amount <= 0:
        raise InvalidRequestError("A bid is a positive amount.", param="amount")


#: Escrow states in which the sale stands (paid; released or being released; disputed).
_PAID = frozenset({"held", "partially_released", "released", "disputed"})
#: Escrow states in which the winning bid is over without a sale.
_UNPAID_END = frozenset({"expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class Follow:
    """What an artwork does after its escrow moved: its new status and the bid's."""

    artwork: ArtworkStatus
    bid: BidStatus
    #: The escrow is no longer the artwork's (it is on sale again).
    detach: bool


def follow(artwork_status: str, escrow_status: str) -> Follow | None:
    """The artwork's next step given its escrow's state, or None if nothing changes."""
    if artwork_status == ArtworkStatus.pending_payment:
        if escrow_status in _PAID:
            return Follow(ArtworkStatus.sold, BidStatus.won, detach=False)
        if escrow_status in _UNPAID_END:
            return Follow(ArtworkStatus.active, BidStatus.lapsed, detach=True)
        if escrow_status == "refunded":
            return Follow(ArtworkStatus.active, BidStatus.refunded, detach=True)
    if artwork_status == ArtworkStatus.sold and escrow_status == "refunded":
        return Follow(ArtworkStatus.active, BidStatus.refunded, detach=True)
    return None


def payment_failed(artwork_status: str, escrow_status: str, has_error: bool) -> bool:
    """A declined payment ends the win (seed 004: back on sale at once); the escrow is
    cancelled so that the card cannot be tried again on an artwork sold to nobody."""
    waiting = escrow_status in ("requires_payment", "requires_action")
    return artwork_status == ArtworkStatus.pending_payment and waiting and has_error
