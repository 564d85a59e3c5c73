"""The task marketplace's pure rules: a task's states, who may bid, and what its escrow's
state means for the task's payment. No database, no web."""

from __future__ import annotations

from enum import StrEnum

from escrowd.errors import ConflictError, InvalidRequestError

#: Seed 003: a 10 % platform fee on the task's price (its ``application_fee_amount``); the
#: platform bears the card processor's fee (a destination charge), and the money stays held
#: until the customer completes the task (no payment window, no inspection period).
FEE_POLICY = {
    "rate_bps": 1000,
    "fixed": 0,
    "processing_bearer": "platform",
    "processing_mode": "actual_pro_rata",
}

#: Why a task was cancelled.
BY_CUSTOMER = "customer"
DOER_DEAUTHORIZED = "doer_account_deauthorized"


class TaskStatus(StrEnum):
    #: Taking bids.
    open = "open"
    #: A bid was accepted: the customer pays the escrow, the doer works.
    assigned = "assigned"
    #: The customer completed it: the escrow was released to the doer.
    completed = "completed"
    cancelled = "cancelled"


class BidStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    #: Another bid was accepted, the task was cancelled, or the doer's account disconnected.
    rejected = "rejected"


class PaymentStatus(StrEnum):
    """The seed's payment states, read off the task's escrow."""

    pending_payment = "pending_payment"
    payment_in_escrow = "payment_in_escrow"
    payment_released = "payment_released"
    refunded = "refunded"
    cancelled = "cancelled"


_PENDING = frozenset({"requires_payment", "requires_action", "authorized"})
_HELD = frozenset({"held", "partially_released", "disputed", "partially_refunded"})


def payment_status(escrow_status: str | None) -> PaymentStatus | None:
    if escrow_status is None:
        return None
    if escrow_status in _PENDING:
        return PaymentStatus.pending_payment
    if escrow_status in _HELD:
        return PaymentStatus.payment_in_escrow
    if escrow_status == "released":
        return PaymentStatus.payment_released
    if escrow_status == "refunded":
        return PaymentStatus.refunded
    return PaymentStatus.cancelled


def check_bid(status: str, *, amount: int, currency: str, task_currency: str) -> None:
    if status != TaskStatus.open:
        raise ConflictError(f"This task is {status}: it takes no more bids.", code="task_not_open")
    if currency != task_currency:
        raise InvalidRequestError(
            f"This task is paid in {task_currency.upper()}; bid in that currency.",
            code="currency_mismatch",
            param="currency",
        )
    if amount <= 0:
        raise InvalidRequestError("A bid is a positive amount.", param="amount")


def check_accept(task_status: str, bid_status: str) -> None:
    if task_status != TaskStatus.open:
        raise ConflictError(
            f"This task is {task_status}: a bid can be accepted only while it is open.",
            code="task_not_open",
        )
    if bid_status != BidStatus.pending:
        raise ConflictError(f"This bid is {bid_status}.", code="bid_not_pending")


def check_complete(task_status: str, escrow_status: str | None) -> None:
    if task_status != TaskStatus.assigned:
        raise ConflictError(
            f"This task is {task_status}: only an assigned, paid task can be completed.",
            code="task_not_assigned",
        )
    if payment_status(escrow_status) is not PaymentStatus.payment_in_escrow:
        raise ConflictError(
            "The task's escrow is not paid yet: pay it first (POST /v1/escrows/{id}/fund).",
            code="task_not_paid",
        )


def cancellable(task_status: str) -> bool:
    return task_status in (TaskStatus.open, TaskStatus.assigned)
