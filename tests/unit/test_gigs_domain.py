"""Seed 002's pure rules: a gig's status read from its escrow's, and what completing or
cancelling it does in each status."""

from __future__ import annotations

import pytest

from escrowd.errors import ConflictError
from escrowd.escrows.states import State
from escrowd.fees.domain import (
    FeeOverride,
    FeePolicy,
    compute_allocation_breakdown,
    resolve_policy,
)
from escrowd.marketplace.gigs.domain import (
    FEE_POLICY,
    GigStatus,
    Step,
    cancellation,
    completion,
    escrow_states,
    status_of,
)


@pytest.mark.parametrize(
    ("escrow", "gig"),
    [
        ("requires_payment", GigStatus.awaiting_payment),
        ("requires_action", GigStatus.awaiting_payment),
        ("authorized", GigStatus.authorized),
        ("held", GigStatus.captured),
        ("partially_refunded", GigStatus.captured),
        ("partially_released", GigStatus.completed),
        ("released", GigStatus.completed),
        ("cancelled", GigStatus.voided),
        ("refunded", GigStatus.refunded),
        ("expired", GigStatus.expired),
        ("disputed", GigStatus.disputed),
    ],
)
def test_a_gig_reads_its_status_from_its_escrow(escrow: str, gig: GigStatus) -> None:
    assert status_of(escrow) is gig
    assert escrow in escrow_states(gig)


def test_every_escrow_state_is_some_gig_status_and_the_filter_covers_them_once() -> None:
    covered = [e for g in GigStatus for e in escrow_states(g)]
    assert sorted(covered) == sorted(s.value for s in State)


def test_completing_captures_an_authorization_then_releases() -> None:
    assert completion(GigStatus.authorized, "gig_1") == [Step.capture, Step.release]
    # Captured already (the authorization's deadline, or a failed release): release only.
    assert completion(GigStatus.captured, "gig_1") == [Step.release]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (GigStatus.awaiting_payment, "gig_not_authorized"),
        (GigStatus.completed, "gig_closed"),
        (GigStatus.voided, "gig_closed"),
        (GigStatus.refunded, "gig_closed"),
        (GigStatus.expired, "gig_closed"),
        (GigStatus.disputed, "gig_closed"),
    ],
)
def test_completing_is_refused_unless_the_money_is_authorized_or_captured(
    status: GigStatus, code: str
) -> None:
    with pytest.raises(ConflictError) as caught:
        completion(status, "gig_1")
    assert caught.value.code == code
    assert "gig_1" in caught.value.message


def test_cancelling_voids_before_the_capture_and_refunds_after() -> None:
    assert cancellation(GigStatus.awaiting_payment, "gig_1") is Step.void
    assert cancellation(GigStatus.authorized, "gig_1") is Step.void
    assert cancellation(GigStatus.captured, "gig_1") is Step.refund


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (GigStatus.completed, "gig_completed"),
        (GigStatus.voided, "gig_closed"),
        (GigStatus.refunded, "gig_closed"),
        (GigStatus.expired, "gig_closed"),
        (GigStatus.disputed, "gig_closed"),
    ],
)
def test_cancelling_is_refused_once_paid_out_or_over(status: GigStatus, code: str) -> None:
    with pytest.raises(ConflictError) as caught:
        cancellation(status, "gig_1")
    assert caught.value.code == code


def test_the_fee_policy_pays_the_expert_exactly_180_of_200() -> None:
    # The marketplace's default is overridden field by field: nothing of it is left.
    policy = resolve_policy(FeePolicy(rate_bps=1500), escrow=FeeOverride.from_dict(FEE_POLICY))
    # The processor's actual fee ($6.10 on $200.00) is the platform's, not the expert's.
    breakdown = compute_allocation_breakdown(20_000, [policy], 610, allocations=[20_000])
    (part,) = breakdown.allocations
    assert (part.gross, part.platform_fee, part.net) == (20_000, 2_000, 18_000)
    assert (part.payee_processing, part.platform_processing) == (0, 610)
    assert breakdown.charged == 20_000
