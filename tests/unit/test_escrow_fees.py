"""Escrow fees to the cent: the seeds' worked examples, overrides, partial releases, properties."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrowd.errors import InvalidRequestError
from escrowd.escrows.domain import (
    AllocationBreakdown,
    Amounts,
    Bearer,
    Context,
    FeeOverride,
    FeePolicy,
    ProcessingBase,
    ProcessingMode,
    State,
    check_fee_fits,
    compute_allocation_breakdown,
    fixed_source,
    prorate,
    resolve_policy,
    settled_state,
    split_evenly,
    transition,
)
from escrowd.money import MAX_AMOUNT

#: Seed 000 (PeerTest Hub): 15 % platform fee; the tester bears processing at 3 % of the
#: tester's gross, i.e. of what is left after the platform fee.
PEERTEST = FeePolicy(
    rate_bps=1500,
    processing_bearer="payee",
    processing_mode="flat_rate",
    processing_rate_bps=300,
    processing_base="after_platform_fee",
)
#: Seed 001 (Handwork): 5 %; 002 (Hire an Expert) and 003 (tasks): 10 % as a destination
#: charge's application fee, so Stripe's fee falls on the platform.
HANDWORK = FeePolicy(rate_bps=500)
EXPERT = FeePolicy(rate_bps=1000)
#: The sandbox's Stripe fee on a $100 charge: 2.9 % + 30¢.
STRIPE_FEE_ON_100 = 320


def figures(b: AllocationBreakdown) -> tuple[int, int, int, int]:
    return b.gross, b.platform_fee, b.processing_cost, b.net


def test_seed_000_worked_example_comes_out_to_the_cent() -> None:
    # Job Budget $100.00, Platform Fee (15%) $15.00, Tester Gross $85.00,
    # Stripe Fee (~3%) $2.55, Tester Net $82.45.
    (tester,) = compute_allocation_breakdown(10_000, PEERTEST).allocations
    assert figures(tester) == (10_000, 1_500, 255, 8_245)
    assert tester.gross - tester.platform_fee == 8_500
    assert (tester.payee_processing, tester.surcharge, tester.platform_processing) == (255, 0, 0)
    assert tester.charged == 10_000


def test_seed_001_takes_5_percent_and_the_platform_bears_stripes_actual_fee() -> None:
    b = compute_allocation_breakdown(10_000, HANDWORK, STRIPE_FEE_ON_100)
    (worker,) = b.allocations
    assert figures(worker) == (10_000, 500, 320, 9_500)
    assert worker.platform_processing == 320


def test_seed_002_takes_a_10_percent_commission_like_its_application_fee_amount() -> None:
    (expert,) = compute_allocation_breakdown(10_000, EXPERT, STRIPE_FEE_ON_100).allocations
    assert figures(expert) == (10_000, 1_000, 320, 9_000)


def test_seed_000_budget_over_3_tester_slots_splits_to_the_cent() -> None:
    slots = split_evenly(10_000, 3)
    assert slots == [3_334, 3_333, 3_333]
    b = compute_allocation_breakdown(10_000, PEERTEST, allocations=slots)
    assert [figures(a) for a in b.allocations] == [
        (3_334, 500, 85, 2_749),
        (3_333, 500, 85, 2_748),
        (3_333, 500, 85, 2_748),
    ]
    assert (b.amount, b.platform_fee, b.total("processing_cost"), b.net) == (
        10_000,
        1_500,
        255,
        8_245,
    )


def test_actual_processing_cost_is_split_over_slots_by_largest_remainder() -> None:
    b = compute_allocation_breakdown(10_000, HANDWORK, 320, allocations=split_evenly(10_000, 3))
    assert [a.processing_cost for a in b.allocations] == [107, 107, 106]
    # Each slot's fee is 5 % of its own gross, rounded once: 166.7 → 167 and 166.65 → 167.
    assert [a.platform_fee for a in b.allocations] == [167, 167, 167]


def test_a_payer_bearing_processing_pays_an_exact_surcharge_on_top() -> None:
    payer = FeePolicy(
        rate_bps=1000,
        processing_bearer="payer",
        processing_mode="flat_rate",
        processing_rate_bps=290,
        processing_fixed=30,
    )
    b = compute_allocation_breakdown(10_000, payer, allocations=[6_000, 4_000])
    assert [a.surcharge for a in b.allocations] == [204, 146]  # 174 + 30, 116 + 30
    assert (b.surcharge, b.charged) == (350, 10_350)
    assert [a.net for a in b.allocations] == [5_400, 3_600]


def test_a_payee_never_nets_below_zero_the_platform_absorbs_the_excess() -> None:
    policy = FeePolicy(
        rate_bps=1500, processing_bearer="payee", processing_mode="flat_rate", processing_fixed=30
    )
    (a,) = compute_allocation_breakdown(20, policy).allocations
    assert (
        a.platform_fee,
        a.processing_cost,
        a.payee_processing,
        a.platform_processing,
        a.net,
    ) == (
        3,
        20,
        17,
        3,
        0,
    )


def test_actual_cost_not_yet_known_counts_as_zero_until_the_charge_settles() -> None:
    (a,) = compute_allocation_breakdown(10_000, HANDWORK).allocations
    assert (a.processing_cost, a.net) == (0, 9_500)


def test_overrides_resolve_field_by_field_escrow_over_payee_over_default() -> None:
    default = FeePolicy(rate_bps=1500, fixed=50)
    payee = FeeOverride(rate_bps=1000, processing_bearer="payee")
    escrow = FeeOverride(rate_bps=Decimal("750.5"))
    assert resolve_policy(default) == default
    assert resolve_policy(default, payee=payee) == FeePolicy(
        rate_bps=1000, fixed=50, processing_bearer="payee"
    )
    assert resolve_policy(default, payee=payee, escrow=escrow) == FeePolicy(
        rate_bps=Decimal("750.5"), fixed=50, processing_bearer="payee"
    )


def test_each_allocation_uses_its_own_resolved_policy() -> None:
    default = FeePolicy(rate_bps=1500)
    policies = [resolve_policy(default), resolve_policy(default, payee=FeeOverride(rate_bps=500))]
    b = compute_allocation_breakdown(20_000, policies, allocations=[10_000, 10_000])
    assert [a.platform_fee for a in b.allocations] == [1_500, 500]


def test_a_fixed_fee_larger_than_the_allocation_is_refused_naming_fee_amount_and_source() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_fee_fits(300, FeePolicy(fixed=500), allocation="allocations[1]", source="default")
    err = info.value
    assert (err.code, err.param, err.http_status) == (
        "fee_exceeds_amount",
        "allocations[1][amount]",
        400,
    )
    assert "would be 500" in err.message
    assert "the fixed 500 of the marketplace's default fee policy" in err.message
    assert "amount 300" in err.message
    assert "Raise the amount to at least 500, or lower the fee." in err.message


def test_the_rate_and_the_fixed_part_together_may_not_exceed_the_allocation() -> None:
    policy = FeePolicy(rate_bps=1000, fixed=950)  # 10 % of 1000 + 950 = 1050
    with pytest.raises(InvalidRequestError) as info:
        check_fee_fits(1000, policy, allocation="allocations[0]", source="escrow")
    assert info.value.param == "fee_policy[fixed]"
    assert "would be 1050 (100 at 1000 bps plus the fixed 950 of this escrow's" in (
        info.value.message
    )
    assert "Raise the amount, or lower the fee." in info.value.message
    with pytest.raises(InvalidRequestError):  # 105.5 rounds up: 106 + 950 = 1056
        check_fee_fits(1055, policy, allocation="allocations[0]", source="escrow")
    check_fee_fits(1056, policy, allocation="allocations[0]", source="escrow")


def test_a_fee_equal_to_the_allocation_is_allowed_and_leaves_the_payee_nothing() -> None:
    policy = FeePolicy(fixed=700)
    check_fee_fits(700, policy, allocation="allocations[0]", source="payee")
    (a,) = compute_allocation_breakdown(700, policy).allocations
    assert (a.platform_fee, a.net) == (700, 0)
    check_fee_fits(5_000, FeePolicy(rate_bps=10_000), allocation="allocations[0]", source="escrow")


def test_the_fixed_part_is_traced_to_the_level_that_set_it() -> None:
    assert fixed_source(payee=None, escrow=None) == "default"
    assert fixed_source(payee=FeeOverride(rate_bps=1), escrow=None) == "default"
    assert fixed_source(payee=FeeOverride(fixed=5), escrow=FeeOverride(rate_bps=1)) == "payee"
    assert fixed_source(payee=FeeOverride(fixed=5), escrow=FeeOverride(fixed=0)) == "escrow"


@given(
    gross=st.integers(1, 10**9),
    rate=st.integers(0, 10_000),
    fixed=st.integers(0, 10**9),
)
def test_an_accepted_fee_is_never_capped(gross: int, rate: int, fixed: int) -> None:
    policy = FeePolicy(rate_bps=rate, fixed=fixed)
    try:
        check_fee_fits(gross, policy, allocation="allocations[0]", source="default")
    except InvalidRequestError:
        return
    (a,) = compute_allocation_breakdown(gross, policy).allocations
    exact = Decimal(gross) * rate / 10_000
    assert abs(a.platform_fee - fixed - exact) <= Decimal("0.5")  # the rate's rounding only
    assert a.net == gross - a.platform_fee >= 0


def test_policies_round_trip_through_json_with_rates_as_decimal_strings() -> None:
    data = PEERTEST.to_dict()
    assert data["rate_bps"] == "1500"
    assert data["processing_rate_bps"] == "300"
    assert FeePolicy.from_dict(data) == PEERTEST
    assert FeeOverride.from_dict({"rate_bps": "12.5"}).to_dict() == {"rate_bps": "12.5"}


@pytest.mark.parametrize(
    ("data", "param", "code"),
    [
        ({"rate_bps": 15.0}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": "15%"}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": 10_001}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": -1}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": Decimal("1.00001")}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": Decimal("NaN")}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"rate_bps": True}, "fee_policy[rate_bps]", "fee_policy_invalid"),
        ({"fixed": -5}, "fee_policy[fixed]", "amount_invalid"),
        ({"fixed": "30"}, "fee_policy[fixed]", "amount_invalid"),
        ({"processing_bearer": "nobody"}, "fee_policy[processing_bearer]", "fee_policy_invalid"),
        ({"processing_bearer": "payer"}, "fee_policy[processing_mode]", "fee_policy_invalid"),
        ({"percent": 15}, "fee_policy[percent]", "parameter_unknown"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(
    data: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        FeePolicy.from_dict(data)
    assert (info.value.param, info.value.code, info.value.http_status) == (param, code, 400)


def test_an_override_takes_exactly_the_fields_of_a_policy() -> None:
    # Both are checked against one list of names: they must stay the same fields.
    assert [f.name for f in fields(FeeOverride)] == [f.name for f in fields(FeePolicy)]
    with pytest.raises(InvalidRequestError) as info:
        FeeOverride.from_dict({"percent": 15})
    assert (info.value.param, info.value.code) == ("fee_policy[percent]", "parameter_unknown")


#: Every figure distinct and non-zero, the identities holding: gross = fee + payee processing
#: + net, processing cost = payee processing + surcharge + platform processing.
_BREAKDOWN = {
    "gross": 1000,
    "platform_fee": 150,
    "processing_cost": 66,
    "processing_bearer": "platform",
    "payee_processing": 20,
    "surcharge": 7,
    "platform_processing": 39,
    "net": 830,
}


@pytest.mark.parametrize(
    "figure",
    [
        "gross",
        "platform_fee",
        "processing_cost",
        "payee_processing",
        "surcharge",
        "platform_processing",
        "net",
    ],
)
@pytest.mark.parametrize("bad", [-1, True, 1.0, "1"])
def test_a_breakdown_refuses_a_figure_that_is_not_a_non_negative_integer(
    figure: str, bad: object
) -> None:
    AllocationBreakdown(**_BREAKDOWN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative integers"):
        AllocationBreakdown(**{**_BREAKDOWN, figure: bad})  # type: ignore[arg-type]


def test_a_breakdown_minus_another_is_taken_figure_by_figure() -> None:
    whole = AllocationBreakdown(**_BREAKDOWN)  # type: ignore[arg-type]
    part = AllocationBreakdown(
        gross=400,
        platform_fee=60,
        processing_cost=27,
        processing_bearer="platform",
        payee_processing=8,
        surcharge=3,
        platform_processing=16,
        net=332,
    )
    assert whole.minus(part) == AllocationBreakdown(
        gross=600,
        platform_fee=90,
        processing_cost=39,
        processing_bearer="platform",
        payee_processing=12,
        surcharge=4,
        platform_processing=23,
        net=498,
    )
    with pytest.raises(ValueError, match="non-negative integers"):
        part.minus(whole)


def test_allocations_must_add_up_to_the_escrow_amount() -> None:
    with pytest.raises(InvalidRequestError) as info:
        compute_allocation_breakdown(10_000, PEERTEST, allocations=[5_000, 4_999])
    assert info.value.code == "allocation_mismatch"
    with pytest.raises(InvalidRequestError):
        compute_allocation_breakdown(10_000, PEERTEST, allocations=[10_000, 0])


def test_releasing_the_seed_000_tester_in_two_halves_pays_the_same_as_at_once() -> None:
    (whole,) = compute_allocation_breakdown(10_000, PEERTEST).allocations
    first, rest = whole.take(5_000)
    second, empty = rest.take(5_000)
    assert figures(first) == (5_000, 750, 128, 4_122)
    assert figures(second) == (5_000, 750, 127, 4_123)
    assert first.net + second.net == 8_245
    assert figures(empty) == (0, 0, 0, 0)
    with pytest.raises(InvalidRequestError):
        rest.take(5_001)


def test_a_prorated_refund_takes_from_each_slot_in_proportion_to_what_is_left() -> None:
    # 2,500.37 and 2,499.62: the spare cent goes to the larger remainder.
    assert prorate(5_000, [3_334, 0, 3_333]) == [2_500, 0, 2_500]
    assert prorate(0, [0, 0]) == [0, 0]
    with pytest.raises(InvalidRequestError) as info:
        prorate(6_668, [3_334, 3_333])
    assert info.value.code == "amount_too_large"


# --- properties -------------------------------------------------------------------------------

rates = st.one_of(
    st.integers(0, 10_000), st.decimals(0, 10_000, places=2, allow_nan=False, allow_infinity=False)
)
fixed = st.integers(0, 10_000)
BEARERS: tuple[Bearer, ...] = ("platform", "payee", "payer")
MODES: tuple[ProcessingMode, ...] = ("flat_rate", "actual_pro_rata")
BASES: tuple[ProcessingBase, ...] = ("gross", "after_platform_fee")


@st.composite
def policies(draw: st.DrawFn) -> FeePolicy:
    bearer = draw(st.sampled_from(BEARERS))
    mode: ProcessingMode = "flat_rate" if bearer == "payer" else draw(st.sampled_from(MODES))
    return FeePolicy(
        rate_bps=draw(rates),
        fixed=draw(fixed),
        processing_bearer=bearer,
        processing_mode=mode,
        processing_rate_bps=draw(rates),
        processing_fixed=draw(fixed),
        processing_base=draw(st.sampled_from(BASES)),
    )


grosses = st.lists(st.integers(1, MAX_AMOUNT // 20), min_size=1, max_size=20)


@settings(max_examples=400, deadline=None)
@given(
    allocations=grosses,
    policy=st.lists(policies(), min_size=20, max_size=20),
    cost=st.none() | st.integers(0, MAX_AMOUNT),
)
def test_every_breakdown_adds_up_exactly_is_never_negative_and_is_deterministic(
    allocations: list[int], policy: list[FeePolicy], cost: int | None
) -> None:
    amount, ps = sum(allocations), policy[: len(allocations)]
    b = compute_allocation_breakdown(amount, ps, cost, allocations=allocations)
    assert b == compute_allocation_breakdown(amount, ps, cost, allocations=allocations)
    for a, p in zip(b.allocations, ps, strict=True):
        assert all(v >= 0 for v in (a.platform_fee, a.processing_cost, a.surcharge, a.net))
        assert a.gross == a.platform_fee + a.payee_processing + a.net
        assert a.processing_cost == a.payee_processing + a.surcharge + a.platform_processing
        assert a.charged == a.gross + a.surcharge
        if p.processing_bearer != "payee":
            assert a.net == a.gross - a.platform_fee
    assert b.amount == amount
    assert b.charged == amount + b.surcharge
    if cost is not None and all(p.processing_mode == "actual_pro_rata" for p in ps):
        assert b.total("processing_cost") == cost


@settings(max_examples=300, deadline=None)
@given(
    gross=st.integers(1, MAX_AMOUNT),
    policy=policies(),
    cuts=st.lists(st.integers(0, 10**6), max_size=12),
)
def test_any_sequence_of_partial_releases_of_an_allocation_sums_to_the_whole(
    gross: int, policy: FeePolicy, cuts: list[int]
) -> None:
    (whole,) = compute_allocation_breakdown(gross, policy, gross // 30).allocations
    left, parts = whole, []
    for cut in cuts:
        part, left = left.take(min(cut, left.gross))
        parts.append(part)
    last, empty = left.take(left.gross)
    parts.append(last)
    assert empty.gross == empty.processing_cost == empty.surcharge == empty.net == 0
    for name in (
        "gross",
        "platform_fee",
        "processing_cost",
        "payee_processing",
        "surcharge",
        "net",
    ):
        assert sum(getattr(p, name) for p in parts) == getattr(whole, name)


@st.composite
def escrow_histories(draw: st.DrawFn) -> tuple[list[int], list[tuple[str, int, int]]]:
    slots = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=8))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["release", "refund"]), st.integers(0, 7), st.integers(0, 10**9)
            ),
            max_size=15,
        )
    )
    return slots, ops


@settings(max_examples=300, deadline=None)
@given(history=escrow_histories())
def test_prorated_refunds_between_partial_releases_never_overdraw_and_sum_exactly(
    history: tuple[list[int], list[tuple[str, int, int]]],
) -> None:
    slots, ops = history
    left, released, refunded = list(slots), 0, 0
    state = State.held
    for kind, index, size in ops:
        amounts = Amounts(sum(slots), released, refunded)
        if kind == "release":
            i = index % len(slots)
            amount = min(size, left[i])
            if amount == 0:
                continue
            left[i] -= amount
            released += amount
            state = transition(state, "release", context=Context(amounts=amounts, release=amount))
        else:
            amount = min(size, sum(left))
            if amount == 0:
                continue
            shares = prorate(amount, left)
            assert sum(shares) == amount
            assert all(0 <= s <= rest for s, rest in zip(shares, left, strict=True))
            left = [rest - s for s, rest in zip(shares, left, strict=True)]
            refunded += amount
            state = transition(state, "refund", context=Context(amounts=amounts, refund=amount))
        assert state is settled_state(Amounts(sum(slots), released, refunded))
    final = prorate(sum(left), left)
    assert final == left
    assert released + refunded + sum(final) == sum(slots)
