"""Seed 001's pure rules: a booking's payment status from its escrow, who may act when, the
fee policy, and the payment provider a pay call may name."""

from __future__ import annotations

import pytest

from escrowd.errors import ConflictError
from escrowd.escrows.states import State
from escrowd.marketplace.bookings.domain import (
    PaymentStatus,
    check_apply,
    check_complete,
    check_hire,
    check_provider,
    check_release,
    fee_policy,
    payment_status,
)


@pytest.mark.parametrize(
    ("escrow", "error", "expected"),
    [
        ("requires_payment", False, "pending"),
        ("requires_payment", True, "failed"),
        ("requires_action", False, "pending"),
        ("held", False, "held"),
        ("held", True, "held"),
        ("partially_refunded", False, "held"),
        ("partially_released", False, "partially_released"),
        ("released", False, "released"),
        ("refunded", False, "refunded"),
        ("disputed", False, "disputed"),
        ("expired", False, "cancelled"),
        ("cancelled", False, "cancelled"),
    ],
)
def test_the_payment_status_is_read_from_the_escrow(
    escrow: str, error: bool, expected: str
) -> None:
    assert payment_status(escrow, payment_error=error) == PaymentStatus(expected)


def test_every_escrow_state_has_a_payment_status() -> None:
    from escrowd.marketplace.bookings.domain import _BY_ESCROW

    assert set(_BY_ESCROW) == {s.value for s in State}


def test_paying_with_another_provider_than_the_one_hired_with_is_a_mismatch() -> None:
    for chosen in ("stripe", "paypal"):
        check_provider(chosen, None)
        check_provider(chosen, chosen)
    with pytest.raises(ConflictError) as caught:
        check_provider("paypal", "stripe")
    assert (caught.value.code, caught.value.param) == (
        "payment_provider_mismatch",
        "payment_provider",
    )
    assert "'paypal'" in caught.value.message
    assert "'stripe'" in caught.value.message


def test_the_fee_policy_is_the_rate_with_the_platform_bearing_processing() -> None:
    assert fee_policy(500) == {
        "rate_bps": 500,
        "fixed": 0,
        "processing_bearer": "platform",
        "processing_mode": "actual_pro_rata",
    }


def test_a_filled_job_takes_no_application_and_hires_no_one_else() -> None:
    check_apply("open")
    check_hire("open", "pending")
    with pytest.raises(ConflictError, match="hired a worker") as caught:
        check_apply("filled")
    assert caught.value.code == "job_filled"
    with pytest.raises(ConflictError) as caught:
        check_hire("filled", "pending")
    assert caught.value.code == "job_filled"
    with pytest.raises(ConflictError) as caught:
        check_hire("open", "declined")
    assert caught.value.code == "application_not_pending"


@pytest.mark.parametrize("escrow", ["held", "authorized", "partially_refunded"])
def test_work_is_completed_once_its_money_is_held(escrow: str) -> None:
    check_complete("hired", escrow)


@pytest.mark.parametrize(
    ("status", "escrow", "code"),
    [
        ("hired", "requires_payment", "booking_not_paid"),
        ("hired", "disputed", "booking_not_paid"),
        ("hired", "refunded", "booking_not_paid"),
        ("completed", "held", "booking_completed"),
    ],
)
def test_work_is_not_completed_twice_nor_before_payment(
    status: str, escrow: str, code: str
) -> None:
    with pytest.raises(ConflictError) as caught:
        check_complete(status, escrow)
    assert caught.value.code == code


def test_the_client_releases_only_completed_work() -> None:
    check_release("completed")
    with pytest.raises(ConflictError) as caught:
        check_release("hired")
    assert caught.value.code == "booking_not_completed"
