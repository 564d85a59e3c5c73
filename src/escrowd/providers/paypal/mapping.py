"""PayPal's objects as escrowd's neutral provider types.

A PayPal order is escrowd's *payment*: its id is the payment id, its approval link the
``next_action_url``. Status, from the order and its first purchase unit's payments:

    order CREATED / SAVED / PAYER_ACTION_REQUIRED   -> requires_action (payer must approve)
    order APPROVED                                  -> requires_confirmation (authorize/capture)
    order VOIDED                                    -> canceled
    COMPLETED, intent AUTHORIZE, authorization
        CREATED / PARTIALLY_CAPTURED                -> requires_capture (what remains)
        CAPTURED                                    -> succeeded
        VOIDED / EXPIRED / DENIED                   -> canceled, or succeeded if part was taken
        PENDING                                     -> processing
    COMPLETED, intent CAPTURE, capture
        COMPLETED / PARTIALLY_REFUNDED / REFUNDED   -> succeeded
        PENDING                                     -> processing
        DECLINED / FAILED                           -> requires_payment_method

Unlike a Stripe PaymentIntent, a PayPal authorization can be captured several times: a partly
captured one stays ``requires_capture`` until ``final_capture`` or the full amount.
``capture_before`` is the authorization's ``expiration_time`` (29 days); PayPal guarantees the
funds only for the first 3 (``honor_period_end``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import from_money
from escrowd.providers.types import (
    Charge,
    Dispute,
    Payment,
    PaymentError,
    PaymentRecord,
    PaymentStatus,
    Payout,
    Refund,
)

HONOR_PERIOD = timedelta(days=3)

_ORDER = {
    "CREATED": PaymentStatus.requires_action,
    "SAVED": PaymentStatus.requires_action,
    "PAYER_ACTION_REQUIRED": PaymentStatus.requires_action,
    "APPROVED": PaymentStatus.requires_confirmation,
    "VOIDED": PaymentStatus.canceled,
}
_CAPTURE = {
    "COMPLETED": PaymentStatus.succeeded,
    "PARTIALLY_REFUNDED": PaymentStatus.succeeded,
    "REFUNDED": PaymentStatus.succeeded,
    # Taken, then taken back by PayPal: the payment did succeed (as a refunded one did).
    "REVERSED": PaymentStatus.succeeded,
    "PENDING": PaymentStatus.processing,
    "DECLINED": PaymentStatus.requires_payment_method,
    "FAILED": PaymentStatus.requires_payment_method,
}
_REFUND = {"COMPLETED": "succeeded", "PENDING": "pending", "FAILED": "failed"}
_TAKEN = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED", "REVERSED", "PENDING")
#: Captures whose money PayPal has taken (a pending one has not, yet; escrowd funds nothing
#: from it).
_SETTLED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED", "REVERSED")


def when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def honor_period_end(auth: shapes.Authorization) -> datetime | None:
    """Until when PayPal guarantees the authorized funds (3 days after the authorization)."""
    created = when(auth.create_time)
    return created + HONOR_PERIOD if created else None


def payment_from_order(order: shapes.Order) -> Payment:
    unit = order.purchase_units[0] if order.purchase_units else None
    if unit is None or unit.amount is None:
        raise ProviderError(
            ProviderErrorKind.api,
            f"PayPal order {order.id} came without its purchase unit's amount.",
            provider="paypal",
        )
    total = from_money(unit.amount)
    payments = unit.payments or shapes.Payments()
    taken = [c for c in payments.captures if c.status in _TAKEN]
    received = sum(from_money(c.amount).amount for c in taken)
    auth = payments.authorizations[0] if payments.authorizations else None
    status = _ORDER.get(order.status)
    capturable, error = 0, None
    if status is None and order.intent == "AUTHORIZE" and auth is not None:
        status, capturable = _authorized(auth, received)
    elif status is None and payments.captures:
        status = _CAPTURE[payments.captures[-1].status]
        if status is PaymentStatus.requires_payment_method:
            error = PaymentError(
                code="capture_declined", decline_code=None, message="PayPal declined the capture."
            )
    elif status is None:
        status = PaymentStatus.processing
    return Payment(
        id=order.id,
        status=status,
        amount=total.amount,
        currency=total.currency,
        amount_capturable=capturable,
        amount_received=received,
        capture_method="manual" if order.intent == "AUTHORIZE" else "automatic",
        client_secret=None,
        customer=None,
        payment_method=None,
        latest_charge=payments.captures[-1].id if payments.captures else None,
        next_action_url=order.approval_url if status is PaymentStatus.requires_action else None,
        capture_before=when(auth.expiration_time) if auth is not None else None,
        last_error=error,
        created=when(order.create_time),
    )


def record_from_order(order: shapes.Order) -> PaymentRecord:
    """An order as reconciliation reads it (``PaymentRecord``): its completed captures summed
    as one charge (``amount_captured``, and PayPal's fee summed over them; the fee is None
    unless PayPal states it on every one), the payment ``succeeded`` once one completed.

    A pending capture counts for nothing (escrowd funds nothing from it until it completes);
    refunds leave a capture's gross amount as it was, as a Stripe charge's
    ``amount_captured`` stays."""
    payment = payment_from_order(order)
    unit = order.purchase_units[0] if order.purchase_units else None
    if unit is not None and unit.custom_id:
        # escrowd sends the escrow's id as the purchase unit's custom_id.
        payment = dataclasses.replace(payment, transfer_group=unit.custom_id)
    captures = unit.payments.captures if unit is not None and unit.payments else []
    charges = [charge_from_capture(c) for c in captures if c.status in _SETTLED]
    if not charges:
        return PaymentRecord(payment=dataclasses.replace(payment, amount_received=0), charge=None)
    captured = sum(c.amount_captured for c in charges)
    fees = [c.fee for c in charges]
    fee = None if any(f is None for f in fees) else sum(f or 0 for f in fees)
    charge = dataclasses.replace(
        charges[-1],
        amount=captured,
        amount_captured=captured,
        amount_refunded=sum(c.amount_refunded for c in charges),
        fee=fee,
        net=None if fee is None else captured - fee,
        payment_intent=order.id,
    )
    return PaymentRecord(
        payment=dataclasses.replace(
            payment, status=PaymentStatus.succeeded, amount_received=captured
        ),
        charge=charge,
    )


def refunds_of_order(order: shapes.Order) -> list[Refund]:
    """The refunds PayPal lists on the order (its purchase unit's payment collection), each
    with the order as ``payment_id`` and its capture (from the ``up`` link) as ``charge_id``."""
    unit = order.purchase_units[0] if order.purchase_units else None
    refunds = unit.payments.refunds if unit is not None and unit.payments else []
    out: list[Refund] = []
    for refund in refunds:
        capture_id = capture_of_refund(refund.links)
        mapped = refund_from_paypal(refund, capture_id=capture_id or "")
        out.append(dataclasses.replace(mapped, payment_id=order.id, charge_id=capture_id))
    return out


def capture_of_refund(links: list[shapes.Link]) -> str | None:
    """The refunded capture's id from a refund's links (its ``up`` link)."""
    href = shapes.link(links, "up")
    if href is None:
        return None
    _head, sep, tail = href.rstrip("/").rpartition("/v2/payments/captures/")
    return tail if sep and tail and "/" not in tail else None


def _authorized(auth: shapes.Authorization, received: int) -> tuple[PaymentStatus, int]:
    if auth.status in ("CREATED", "PARTIALLY_CAPTURED"):
        return PaymentStatus.requires_capture, max(from_money(auth.amount).amount - received, 0)
    if auth.status == "CAPTURED":
        return PaymentStatus.succeeded, 0
    if auth.status == "PENDING":
        return PaymentStatus.processing, 0
    # VOIDED, EXPIRED, DENIED: what was captured before stays captured.
    return (PaymentStatus.succeeded if received else PaymentStatus.canceled), 0


def order_of(obj: shapes.Capture | shapes.Authorization) -> str | None:
    """The order a capture or authorization belongs to (``supplementary_data.related_ids``)."""
    related = obj.supplementary_data.related_ids if obj.supplementary_data else None
    return related.order_id if related else None


def charge_from_capture(capture: shapes.Capture) -> Charge:
    """A capture as a ``Charge``: its fee is ``seller_receivable_breakdown.paypal_fee``
    (None until PayPal states it, e.g. while the capture is pending)."""
    total = from_money(capture.amount)
    breakdown = capture.seller_receivable_breakdown
    fee = net = None
    if breakdown is not None and breakdown.paypal_fee is not None:
        fee = from_money(breakdown.paypal_fee).amount
        net = (
            from_money(breakdown.net_amount).amount
            if breakdown.net_amount is not None
            else total.amount - fee
        )
    refunded = capture.status in ("REFUNDED", "PARTIALLY_REFUNDED")
    completed = capture.status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED", "REVERSED")
    return Charge(
        id=capture.id,
        amount=total.amount,
        amount_captured=total.amount if completed else 0,
        # PayPal's capture does not say how much was refunded; its refunds do.
        amount_refunded=total.amount if capture.status == "REFUNDED" else 0,
        currency=total.currency,
        captured=completed,
        paid=completed,
        status=capture.status.lower() if not refunded else "succeeded",
        payment_intent=order_of(capture),
        fee=fee,
        net=net,
        balance_transaction=None,
        capture_before=None,
        disputed=False,
    )


def refund_from_paypal(refund: shapes.Refund, *, capture_id: str) -> Refund:
    money = from_money(refund.amount)
    return Refund(
        id=refund.id,
        amount=money.amount,
        currency=money.currency,
        status=_REFUND.get(refund.status, "canceled"),
        payment_id=None,
        charge_id=capture_id,
        created=when(refund.create_time),
    )


#: A payout item's fate in Stripe's payout words. UNCLAIMED money has left the platform's
#: balance but waits for the receiver (30 days, then PayPal returns it): in transit. RETURNED,
#: like FAILED or BLOCKED, means the payee was not paid and the money is back: failed.
_PAYOUT = {
    "SUCCESS": "paid",
    "PENDING": "pending",
    "ONHOLD": "pending",
    "UNCLAIMED": "in_transit",
    "RETURNED": "failed",
    "FAILED": "failed",
    "BLOCKED": "failed",
    "REFUNDED": "failed",
    "REVERSED": "failed",
}
_PAYOUT_FAILURES = {
    "RETURNED": "The payee did not claim the PayPal payout within 30 days; PayPal returned it.",
    "BLOCKED": "PayPal blocked the payout.",
    "REFUNDED": "The PayPal payout was refunded to the platform.",
    "REVERSED": "PayPal reversed the payout.",
}


def payout_from_item(item: shapes.PayoutItem) -> Payout:
    """One payout item (escrowd sends one per batch) as a ``Payout``; its id is the item's."""
    money = from_money(item.payout_item.amount)
    status = item.transaction_status
    failed = _PAYOUT[status] == "failed"
    message = _PAYOUT_FAILURES.get(status)
    if failed and message is None:
        message = item.errors.message if item.errors else "The PayPal payout failed."
    return Payout(
        id=item.payout_item_id,
        amount=money.amount,
        currency=money.currency,
        status=_PAYOUT[status],
        arrival_date=when(item.time_processed) if status == "SUCCESS" else None,
        failure_code=status.lower() if failed else None,
        failure_message=message if failed else None,
    )


# --- disputes ---------------------------------------------------------------------------------

#: Resolved in the seller's favour: PayPal releases its hold (a payout PayPal made to the buyer
#: itself, a claim the buyer cancelled or PayPal denied, leave the seller's money alone too).
WON_OUTCOMES = frozenset(
    {"RESOLVED_SELLER_FAVOUR", "RESOLVED_WITH_PAYOUT", "CANCELED_BY_BUYER", "DENIED"}
)
#: Resolved in the buyer's favour, by PayPal or by the seller accepting the claim: the buyer
#: keeps the money (``amount_refunded`` of it, all of the disputed amount when absent).
LOST_OUTCOMES = frozenset({"RESOLVED_BUYER_FAVOUR", "ACCEPTED"})
_AWAITING_SELLER = ("OPEN", "WAITING_FOR_SELLER_RESPONSE")
_FEE_REASONS = ("DISPUTE_FEE", "CHARGEBACK_FEE", "DISPUTE_SETTLEMENT_FEE")


def dispute_status(d: shapes.Dispute) -> str:
    """PayPal's status and outcome in the neutral words: needs_response, under_review, won,
    lost. A RESOLVED dispute without a known outcome stays under_review: nothing is decided
    on a guess."""
    if d.status == "RESOLVED" and d.dispute_outcome is not None:
        code = d.dispute_outcome.outcome_code
        if code in WON_OUTCOMES:
            return "won"
        if code in LOST_OUTCOMES:
            return "lost"
    return "needs_response" if d.status in _AWAITING_SELLER else "under_review"


def _fees(d: shapes.Dispute, currency: str) -> int:
    total = 0
    for m in d.money_movements:
        if m.affected_party != "SELLER" or m.reason not in _FEE_REASONS or m.amount is None:
            continue
        value = from_money(m.amount)
        if value.currency != currency:
            continue
        total += value.amount if m.type == "DEBIT" else -value.amount
    return max(total, 0)


def dispute_from_paypal(d: shapes.Dispute, *, order_id: str | None) -> Dispute:
    """A PayPal dispute as the neutral ``Dispute``; ``order_id``: the order the disputed
    capture belongs to (read from the capture), escrowd's payment id.

    PayPal holds the disputed amount from the seller's balance while the dispute is open
    (``withdrawn``); won, the hold is released (``reinstated``); lost, the buyer keeps
    ``amount_refunded`` (all of it when absent) and the rest of the hold comes back. Fees are
    the seller's fee debits in ``money_movements``.
    """
    amount = from_money(d.dispute_amount)
    status = dispute_status(d)
    reinstated = 0
    if status == "won":
        reinstated = amount.amount
    elif status == "lost" and d.dispute_outcome is not None:
        refunded = d.dispute_outcome.amount_refunded
        if refunded is not None and from_money(refunded).currency == amount.currency:
            reinstated = max(amount.amount - from_money(refunded).amount, 0)
    return Dispute(
        id=d.dispute_id,
        amount=amount.amount,
        currency=amount.currency,
        status=status,
        reason=(d.reason or "other").lower(),
        charge_id=d.seller_transaction_id,
        payment_id=order_id,
        withdrawn=amount.amount,
        reinstated=reinstated,
        fee=_fees(d, amount.currency),
        created=when(d.create_time.replace("Z", "+00:00") if d.create_time else None),
    )
