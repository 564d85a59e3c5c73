"""Stored fee policies and parts are parsed once per distinct content: the same figures as
parsing them each time, the same refusals, and values that cannot be cache keys still read."""

from __future__ import annotations

from typing import Any

import pytest

from escrowd.errors import InvalidRequestError
from escrowd.escrows import parts
from escrowd.escrows.book import Book
from escrowd.escrows.models import Allocation, Escrow
from escrowd.fees.domain import AllocationBreakdown, FeePolicy, compute_allocation_breakdown

POLICY = FeePolicy(rate_bps=1000, fixed=30).to_dict()


def _escrow(released: dict[str, Any] | None = None) -> Escrow:
    escrow = Escrow(
        id="esc_1",
        amount=10_000,
        currency="usd",
        processing_cost_total=320,
        amount_released=0,
        amount_refunded=0,
    )
    escrow.allocations = [
        Allocation(
            id=f"alloc_{i}",
            amount=amount,
            fee_policy=dict(POLICY),
            released=dict(released or {}) if i == 0 else {},
            refunded={},
            payee_id=f"usr_{i}",
        )
        for i, amount in enumerate((6_001, 3_999))
    ]
    return escrow


def test_a_stored_policy_reads_as_parsing_it_would_and_is_parsed_once() -> None:
    first = parts.stored_policy(dict(POLICY))
    again = parts.stored_policy(dict(POLICY))
    assert first == FeePolicy.from_dict(POLICY)
    assert again is first


def test_a_stored_policy_that_is_wrong_is_refused_every_time() -> None:
    bad = {**POLICY, "rate_bps": "-5"}
    for _ in range(2):
        with pytest.raises(InvalidRequestError) as caught:
            parts.stored_policy(bad)
        assert caught.value.param == "fee_policy[rate_bps]"


def test_a_value_that_cannot_be_a_key_is_parsed_without_the_cache() -> None:
    with pytest.raises(InvalidRequestError):
        parts.stored_policy({**POLICY, "fixed": [30]})
    stored = {**parts.dump(parts.zero("platform")), "gross": 100, "net": 100, "note": ["x"]}
    assert parts.load(stored, "platform").gross == 100


def test_full_breakdowns_are_the_fee_computation_s_and_split_the_whole() -> None:
    policies = [FeePolicy.from_dict(POLICY)] * 2
    fulls = parts.full_breakdowns([6_001, 3_999], policies, 320)
    expected = compute_allocation_breakdown(10_000, policies, 320, allocations=[6_001, 3_999])
    assert fulls == expected.allocations
    assert sum(f.gross for f in fulls) == 10_000
    assert sum(f.processing_cost for f in fulls) == 320
    # A different provider fee is a different computation, not the cached one.
    assert parts.full_breakdowns([6_001, 3_999], policies, 321) != fulls


def test_a_book_read_twice_shows_the_same_money_and_what_was_released() -> None:
    full = Book(_escrow()).slots[0].full
    half = parts.dump(full)
    book = Book(_escrow(released=half))
    again = Book(_escrow(released=half))
    assert [s.released for s in book.slots] == [s.released for s in again.slots]
    assert book.slots[0].released == full
    assert book.slots[0].remaining == parts.zero("platform")
    assert book.slots[1].remaining == book.slots[1].full
    assert isinstance(book.slots[1].released, AllocationBreakdown)
    assert book.slots[1].released.gross == 0
