"""Stripe objects → escrowd's neutral types.

Fields are read with ``get`` rather than the SDK's typed attributes: the same adapter reads
Stripe's current objects, the sandbox's, and localstripe's older shapes, and a field that one of
them omits must read as "unknown" (None), not raise ``AttributeError`` after money has moved.
Expandable fields (``customer``, ``latest_charge``…) may be an id or an expanded object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from escrowd.providers.stripe.messages import card_message
from escrowd.providers.types import (
    AccountStatus,
    CatalogItem,
    Charge,
    ConnectedAccount,
    Customer,
    Dispute,
    Invoice,
    Link,
    Payment,
    PaymentError,
    PaymentMethod,
    PaymentRecord,
    PaymentStatus,
    Payout,
    Refund,
    Requirements,
    SetupIntent,
    Subscription,
    Transfer,
    TransferReversal,
)

Obj = Mapping[str, Any]


def dig(obj: Any, *path: str) -> Any:
    """``obj[a][b]…``, or None as soon as a step is missing or not an object."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def ref(value: Any) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def ts(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _metadata(obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata")
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) else {}


# --- customers and payment methods -------------------------------------------------------


def customer(obj: Obj) -> Customer:
    return Customer(
        id=obj["id"],
        email=_str(obj.get("email")),
        default_payment_method=ref(dig(obj, "invoice_settings", "default_payment_method")),
    )


def setup_intent(obj: Obj) -> SetupIntent:
    last_error = obj.get("last_setup_error")
    return SetupIntent(
        id=obj["id"],
        status=str(obj.get("status")),
        client_secret=_str(obj.get("client_secret")),
        payment_method=ref(obj.get("payment_method")),
        customer=ref(obj.get("customer")),
        last_error=payment_error(last_error) if isinstance(last_error, Mapping) else None,
    )


def payment_method(obj: Obj) -> PaymentMethod:
    card = obj.get("card")
    return PaymentMethod(
        id=obj["id"],
        type=str(obj.get("type")),
        customer=ref(obj.get("customer")),
        card_brand=_str(dig(card, "brand")),
        card_last4=_str(dig(card, "last4")),
        card_exp_month=_opt_int(dig(card, "exp_month")),
        card_exp_year=_opt_int(dig(card, "exp_year")),
    )


# --- payments ------------------------------------------------------------------------------


# Statuses of API versions before 2019-02-11, which localstripe still speaks.
_LEGACY_STATUS = {
    "requires_source": PaymentStatus.requires_payment_method,
    "requires_source_action": PaymentStatus.requires_action,
}


def payment_status(value: Any) -> PaymentStatus:
    if value in _LEGACY_STATUS:
        return _LEGACY_STATUS[value]
    return PaymentStatus(value)


def payment(obj: Obj) -> Payment:
    charge = obj.get("latest_charge")
    last_error = obj.get("last_payment_error")
    return Payment(
        id=obj["id"],
        status=payment_status(obj.get("status")),
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency")),
        amount_capturable=_int(obj.get("amount_capturable")),
        amount_received=_int(obj.get("amount_received")),
        capture_method=str(obj.get("capture_method")),
        client_secret=_str(obj.get("client_secret")),
        customer=ref(obj.get("customer")),
        payment_method=ref(obj.get("payment_method")),
        latest_charge=ref(charge),
        # Only a redirect can be followed by a browser; ``use_stripe_sdk`` needs Stripe.js,
        # which uses the client secret instead.
        next_action_url=_str(dig(obj, "next_action", "redirect_to_url", "url")),
        # Known only when the charge was expanded (the adapter asks for it).
        capture_before=ts(dig(charge, "payment_method_details", "card", "capture_before")),
        # Known only when the charge's balance transaction was expanded and has settled.
        fee=_opt_int(dig(charge, "balance_transaction", "fee")),
        transfer_group=_str(obj.get("transfer_group")),
        last_error=payment_error(last_error) if isinstance(last_error, Mapping) else None,
        metadata=_metadata(obj),
        created=ts(obj.get("created")),
    )


def payment_error(obj: Obj) -> PaymentError:
    code = _str(obj.get("code"))
    decline_code = _str(obj.get("decline_code"))
    return PaymentError(
        code=code,
        decline_code=decline_code,
        message=card_message(decline_code=decline_code, code=code),
    )


def charge(obj: Obj) -> Charge:
    txn = obj.get("balance_transaction")
    fee = net = None
    if isinstance(txn, Mapping):  # expanded: the fee is known once the charge settled
        fee = _opt_int(txn.get("fee"))
        net = _opt_int(txn.get("net"))
    return Charge(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        amount_captured=_int(obj.get("amount_captured")),
        amount_refunded=_int(obj.get("amount_refunded")),
        currency=str(obj.get("currency")),
        captured=bool(obj.get("captured")),
        paid=bool(obj.get("paid")),
        status=str(obj.get("status")),
        payment_intent=ref(obj.get("payment_intent")),
        fee=fee,
        net=net,
        balance_transaction=ref(txn),
        capture_before=ts(dig(obj, "payment_method_details", "card", "capture_before")),
        disputed=bool(obj.get("disputed")),
    )


def refund(obj: Obj) -> Refund:
    return Refund(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency")),
        status=str(obj.get("status")),
        payment_id=ref(obj.get("payment_intent")),
        charge_id=ref(obj.get("charge")),
        created=ts(obj.get("created")),
        metadata=_metadata(obj),
    )


def dispute(obj: Obj) -> Dispute:
    withdrawn = reinstated = fee = 0
    for txn in obj.get("balance_transactions") or ():
        if not isinstance(txn, Mapping):
            continue
        amount = _int(txn.get("amount"))
        if amount < 0:
            withdrawn -= amount
        else:
            reinstated += amount
        fee += _int(txn.get("fee"))
    return Dispute(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency")),
        status=str(obj.get("status")),
        reason=str(obj.get("reason") or "general"),
        charge_id=ref(obj.get("charge")),
        payment_id=ref(obj.get("payment_intent")),
        withdrawn=withdrawn,
        reinstated=reinstated,
        fee=fee,
        created=ts(obj.get("created")),
    )


# --- connected accounts --------------------------------------------------------------------


def account_status(obj: Obj) -> AccountStatus:
    """Where an account stands, from the fields Stripe documents for it.

    verified: it can take charges and receive payouts, and nothing is due now or overdue.
    pending_verification: onboarding not finished yet (Stripe reports the initial requirements
    of a new account as past due, with ``disabled_reason = requirements.past_due``; that is not
    a restriction of someone who has not filled the form yet), or Stripe is verifying what was
    submitted (``requirements.pending_verification``).
    restricted: anything else that is disabled or overdue after onboarding (rejected, paused,
    under review, past-due requirements).
    """
    req = obj.get("requirements")
    currently_due = _strs(dig(req, "currently_due"))
    past_due = _strs(dig(req, "past_due"))
    disabled_reason = _str(dig(req, "disabled_reason"))
    enabled = bool(obj.get("charges_enabled")) and bool(obj.get("payouts_enabled"))
    if enabled and not currently_due and not past_due:
        return AccountStatus.verified
    if disabled_reason == "requirements.pending_verification":
        return AccountStatus.pending_verification
    onboarding = not obj.get("details_submitted")
    if onboarding and disabled_reason in (None, "requirements.past_due"):
        return AccountStatus.pending_verification
    if disabled_reason or past_due:
        return AccountStatus.restricted
    return AccountStatus.pending_verification


def connected_account(obj: Obj) -> ConnectedAccount:
    req = obj.get("requirements")
    caps = obj.get("capabilities")
    return ConnectedAccount(
        id=obj["id"],
        status=account_status(obj),
        business_type=_str(obj.get("business_type")),
        charges_enabled=bool(obj.get("charges_enabled")),
        payouts_enabled=bool(obj.get("payouts_enabled")),
        details_submitted=bool(obj.get("details_submitted")),
        capabilities=(
            {str(k): str(v) for k, v in caps.items()} if isinstance(caps, Mapping) else {}
        ),
        requirements=Requirements(
            currently_due=_strs(dig(req, "currently_due")),
            eventually_due=_strs(dig(req, "eventually_due")),
            past_due=_strs(dig(req, "past_due")),
            current_deadline=ts(dig(req, "current_deadline")),
            disabled_reason=_str(dig(req, "disabled_reason")),
        ),
        email=_str(obj.get("email")),
    )


def link(obj: Obj) -> Link:
    return Link(url=str(obj["url"]), expires_at=ts(obj.get("expires_at")))


# --- transfers and payouts -----------------------------------------------------------------


def transfer(obj: Obj) -> Transfer:
    return Transfer(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        amount_reversed=_int(obj.get("amount_reversed")),
        currency=str(obj.get("currency")),
        destination=ref(obj.get("destination")) or "",
        transfer_group=_str(obj.get("transfer_group")),
        reversed=bool(obj.get("reversed")),
        created=ts(obj.get("created")),
        metadata=_metadata(obj),
    )


def transfer_reversal(obj: Obj) -> TransferReversal:
    parent = obj.get("transfer")
    return TransferReversal(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency")),
        transfer_id=ref(parent) or "",
        created=ts(obj.get("created")),
        transfer=transfer(parent) if isinstance(parent, Mapping) else None,
    )


def payment_record(obj: Obj) -> PaymentRecord:
    """A PaymentIntent listed with ``data.latest_charge.balance_transaction`` expanded."""
    latest = obj.get("latest_charge")
    return PaymentRecord(
        payment=payment(obj),
        charge=charge(latest) if isinstance(latest, Mapping) else None,
        invoice_id=ref(obj.get("invoice")),
    )


def payout(obj: Obj) -> Payout:
    return Payout(
        id=obj["id"],
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency")),
        status=str(obj.get("status")),
        arrival_date=ts(obj.get("arrival_date")),
        failure_code=_str(obj.get("failure_code")),
        failure_message=_str(obj.get("failure_message")),
    )


# --- subscriptions -------------------------------------------------------------------------


def product(obj: Obj) -> CatalogItem:
    return CatalogItem(id=obj["id"], name=_str(obj.get("name")))


def price(obj: Obj) -> CatalogItem:
    return CatalogItem(
        id=obj["id"],
        name=_str(obj.get("nickname")),
        unit_amount=_opt_int(obj.get("unit_amount")),
        currency=_str(obj.get("currency")),
    )


def subscription(obj: Obj) -> Subscription:
    items = dig(obj, "items", "data")
    first = items[0] if isinstance(items, list) and items else None
    invoice = obj.get("latest_invoice")
    return Subscription(
        id=obj["id"],
        status=str(obj.get("status")),
        customer=ref(obj.get("customer")) or "",
        price_id=ref(dig(first, "price")) or ref(dig(first, "plan")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        # Since API version 2025-03-31 the period lives on each item; older objects carry
        # it on the subscription.
        current_period_end=ts(dig(first, "current_period_end"))
        or ts(obj.get("current_period_end")),
        client_secret=invoice_client_secret(invoice),
        latest_invoice=ref(invoice),
        item_id=_str(dig(first, "id")),
        current_period_start=ts(dig(first, "current_period_start"))
        or ts(obj.get("current_period_start")),
    )


def invoice(obj: Obj) -> Invoice:
    # API versions from 2025-03-31 name the subscription under ``parent``.
    sub = ref(obj.get("subscription")) or ref(
        dig(obj, "parent", "subscription_details", "subscription")
    )
    pid, cid = _invoice_payment(obj)
    return Invoice(
        id=obj["id"],
        status=str(obj.get("status")),
        subscription=sub,
        customer=ref(obj.get("customer")),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        currency=str(obj.get("currency")),
        billing_reason=_str(obj.get("billing_reason")),
        period_start=ts(obj.get("period_start")),
        period_end=ts(obj.get("period_end")),
        payment_id=pid,
        charge_id=cid,
        created=ts(obj.get("created")),
    )


def _invoice_payment(obj: Obj) -> tuple[str | None, str | None]:
    """The PaymentIntent and charge that paid an invoice.

    API versions before 2025-03-31 name them on the invoice (``payment_intent``, ``charge``);
    later ones list the invoice's ``payments`` (expanded on request), each naming its
    PaymentIntent or charge: the one that is ``paid`` counts.
    """
    pid, cid = ref(obj.get("payment_intent")), ref(obj.get("charge"))
    if pid or cid:
        return pid, cid
    payments = dig(obj, "payments", "data")
    for item in payments if isinstance(payments, list) else []:
        if isinstance(item, Mapping) and item.get("status") == "paid":
            paid = item.get("payment")
            return ref(dig(paid, "payment_intent")), ref(dig(paid, "charge"))
    return None, None


def invoice_client_secret(invoice: Any) -> str | None:
    """The secret the payer confirms the first invoice with, where the invoice was expanded.

    Current API versions expose it as ``confirmation_secret.client_secret``; versions before
    2025-03-31 as the invoice's ``payment_intent.client_secret``.
    """
    return _str(dig(invoice, "confirmation_secret", "client_secret")) or _str(
        dig(invoice, "payment_intent", "client_secret")
    )
