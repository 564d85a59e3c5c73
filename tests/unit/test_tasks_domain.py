"""Seed 003's task rules: bids, acceptance, completion, and the payment status the seed names
after the escrow's state."""

from __future__ import annotations

import pytest

from escrowd.accounts.domain import AccountView, payee_problem
from escrowd.errors import ConflictError, InvalidRequestError
from escrowd.marketplace.tasks.domain import (
    PaymentStatus,
    check_accept,
    check_bid,
    check_complete,
    payment_status,
)


@pytest.mark.parametrize(
    ("escrow", "shown"),
    [
        (None, None),
        ("requires_payment", PaymentStatus.pending_payment),
        ("requires_action", PaymentStatus.pending_payment),
        ("held", PaymentStatus.payment_in_escrow),
        ("disputed", PaymentStatus.payment_in_escrow),
        ("released", PaymentStatus.payment_released),
        ("refunded", PaymentStatus.refunded),
        ("cancelled", PaymentStatus.cancelled),
        ("expired", PaymentStatus.cancelled),
    ],
)
def test_payment_status_follows_the_escrow(escrow: str | None, shown: PaymentStatus | None) -> None:
    assert payment_status(escrow) == shown


def test_bids_are_taken_only_on_open_tasks_in_their_currency() -> None:
    check_bid("open", amount=100, currency="usd", task_currency="usd")
    with pytest.raises(ConflictError) as closed:
        check_bid("assigned", amount=100, currency="usd", task_currency="usd")
    assert closed.value.code == "task_not_open"
    with pytest.raises(InvalidRequestError) as other:
        check_bid("open", amount=100, currency="eur", task_currency="usd")
    assert other.value.code == "currency_mismatch"


def test_only_a_pending_bid_on_an_open_task_is_accepted() -> None:
    check_accept("open", "pending")
    for task, bid, code in (
        ("assigned", "pending", "task_not_open"),
        ("open", "rejected", "bid_not_pending"),
    ):
        with pytest.raises(ConflictError) as refused:
            check_accept(task, bid)
        assert refused.value.code == code


def test_a_task_is_completed_only_once_paid() -> None:
    check_complete("assigned", "held")
    for task, escrow, code in (
        ("assigned", "requires_payment", "task_not_paid"),
        ("open", None, "task_not_assigned"),
        ("completed", "released", "task_not_assigned"),
    ):
        with pytest.raises(ConflictError) as refused:
            check_complete(task, escrow)
        assert refused.value.code == code


def test_the_kyc_gate_refuses_a_deauthorized_account_even_if_verified() -> None:
    view = AccountView(
        id="acct_1",
        status="verified",
        provider_account_id="acct_x",
        details_submitted=True,
        requirements={},
        capabilities={"transfers": "active"},
    )
    assert payee_problem("usr_01JZ6QY0000000000000000000", view) is None
    gone = AccountView(
        id=view.id,
        status=view.status,
        provider_account_id=view.provider_account_id,
        details_submitted=True,
        requirements={},
        capabilities={"transfers": "active"},
        deauthorized=True,
    )
    problem = payee_problem("usr_01JZ6QY0000000000000000000", gone)
    assert problem is not None
    assert problem.code == "payee_account_deauthorized"
