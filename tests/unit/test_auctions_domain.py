"""Seed 004's pure rules: who wins, when bids are taken, how an artwork follows its escrow."""

from __future__ import annotations

import pytest

from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.marketplace.auctions.domain import (
    ArtworkStatus,
    BidStatus,
    Follow,
    check_bid,
    follow,
    payment_failed,
    wins,
)


def test_a_bid_at_the_threshold_wins_and_a_cent_below_does_not() -> None:
    assert wins(10_000, 10_000)
    assert wins(15_000, 10_000)
    assert not wins(9_999, 10_000)


@pytest.mark.parametrize(
    ("status", "code"),
    [("pending_payment", "artwork_pending_payment"), ("sold", "artwork_sold")],
)
def test_bids_are_refused_while_pending_and_once_sold_without_naming_the_threshold(
    status: str, code: str
) -> None:
    with pytest.raises(ConflictError) as caught:
        check_bid(status, amount=10_000, currency="usd", artwork_currency="usd")
    assert caught.value.code == code
    assert not any(ch.isdigit() for ch in caught.value.message)


def test_a_bid_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_bid("active", amount=10_000, currency="eur", artwork_currency="usd")
    assert (caught.value.code, caught.value.param) == ("currency_mismatch", "currency")


@pytest.mark.parametrize(
    ("artwork", "escrow", "expected"),
    [
        ("pending_payment", "requires_payment", None),
        ("pending_payment", "requires_action", None),
        ("pending_payment", "held", Follow(ArtworkStatus.sold, BidStatus.won, detach=False)),
        ("pending_payment", "released", Follow(ArtworkStatus.sold, BidStatus.won, detach=False)),
        ("pending_payment", "expired", Follow(ArtworkStatus.active, BidStatus.lapsed, detach=True)),
        (
            "pending_payment",
            "cancelled",
            Follow(ArtworkStatus.active, BidStatus.lapsed, detach=True),
        ),
        ("sold", "released", None),
        ("sold", "disputed", None),
        ("sold", "refunded", Follow(ArtworkStatus.active, BidStatus.refunded, detach=True)),
        ("active", "expired", None),
    ],
)
def test_an_artwork_follows_its_escrow(artwork: str, escrow: str, expected: Follow | None) -> None:
    assert follow(artwork, escrow) == expected


def test_only_a_declined_payment_of_a_pending_artwork_ends_the_win() -> None:
    assert payment_failed("pending_payment", "requires_payment", has_error=True)
    assert not payment_failed("pending_payment", "requires_payment", has_error=False)
    assert not payment_failed("pending_payment", "held", has_error=True)
    assert not payment_failed("sold", "requires_payment", has_error=True)
