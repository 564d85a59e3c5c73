"""Subscription invoices: one per period, paid through a PaymentIntent (or at once when $0).

``paid_by`` and ``failed`` are called when the invoice's PaymentIntent succeeds or declines,
wherever that happens (API confirm, hosted 3-D Secure page, renewal on the clock).
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError, StripeError
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Any_, Bool, Enum, Range, Str
from escrowd.sandbox.stripe.render import INCLUDABLE, paged
from escrowd.sandbox.stripe.resources import payment_intents
from escrowd.sandbox.stripe.routes import api, list_body, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

KIND = "invoice"


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    rec = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "aggregate_usage": None,
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec.get("interval", "month"),
        "interval_count": rec.get("interval_count", 1),
        "livemode": False,
        "metadata": price["metadata"],
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": rec.get("usage_type", "licensed"),
    }


def _line(sub: Doc, item: dict[str, Any], start: int, end: int, free: bool) -> dict[str, Any]:
    price = item["price"]
    amount = 0 if free else price["unit_amount"] * item["quantity"]
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "amount_excluding_tax": amount,
        "currency": price["currency"],
        "description": f"{item['quantity']} × {price['product']}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "livemode": False,
        "metadata": {},
        "period": {"end": end, "start": start},
        "plan": plan_of(price),
        "price": price,
        "proration": False,
        "proration_details": {"credited_items": None},
        "quantity": item["quantity"],
        "subscription": sub.id,
        "subscription_item": item["id"],
        "tax_amounts": [],
        "tax_rates": [],
        "type": "subscription",
        "unit_amount_excluding_tax": str(0 if free else price["unit_amount"]),
    }


async def create_for(
    ctx: Ctx, sub: Doc, *, reason: str, start: int, end: int, free: bool = False
) -> tuple[Doc, Doc | None]:
    """A finalized invoice for one period and, when it is not free, its PaymentIntent."""
    s = sub.data
    cus = await ctx.store.require(s["customer"], "customer", lock=True)
    seq = cus.data["next_invoice_sequence"]
    cus.data["next_invoice_sequence"] = seq + 1
    ctx.store.save(cus)
    in_id = new_id("in")
    lines = [_line(sub, item, start, end, free) for item in s["items"]["data"]]
    total = sum(line["amount"] for line in lines)
    data = {
        "id": in_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "escrowd sandbox",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "application_fee_amount": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": total > 0,
        "automatic_tax": {"enabled": False, "status": None},
        "billing_reason": reason,
        "charge": None,
        "collection_method": "charge_automatically",
        "created": ctx.now,
        "currency": s["currency"],
        "custom_fields": None,
        "customer": cus.id,
        "customer_address": None,
        "customer_email": cus.data.get("email"),
        "customer_name": cus.data.get("name"),
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discount": None,
        "discounts": [],
        "due_date": None,
        "effective_at": ctx.now,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_body(f"/v1/invoices/{in_id}/lines", lines, False) | {"total_count": 1},
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": f"{cus.data['invoice_prefix']}-{seq:04d}",
        "on_behalf_of": None,
        "paid": False,
        "paid_out_of_band": False,
        "payment_intent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": start if reason == "subscription_create" else end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "quote": None,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": ctx.now,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": sub.id,
        "subscription_details": {"metadata": s["metadata"]},
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "tax": None,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_tax_amounts": [],
        "transfer_data": None,
        "webhooks_delivered_at": ctx.now,
    }
    inv = ctx.store.create(KIND, data, account=sub.account, parent=sub.id)
    ctx.emit("invoice.created", inv)
    ctx.emit("invoice.finalized", inv)
    if total == 0:
        _mark_paid(ctx, inv)
        return inv, None
    pi = _payment_intent(ctx, inv, sub)
    return inv, pi


def _payment_intent(ctx: Ctx, inv: Doc, sub: Doc) -> Doc:
    d = inv.data
    pi_id = new_id("pi")
    save = sub.private.get("save_default") == "on_subscription"
    data = payment_intents.new_object(
        ctx,
        pi_id,
        amount=d["amount_due"],
        currency=d["currency"],
        customer=d["customer"],
        description="Subscription creation"
        if d["billing_reason"] == "subscription_create"
        else "Subscription update",
        invoice=inv.id,
        setup_future_usage="off_session" if save else None,
    )
    pi = ctx.store.create("payment_intent", data, account=inv.account, parent=d["customer"])
    d["payment_intent"] = pi.id
    ctx.store.save(inv)
    ctx.emit("payment_intent.created", pi)
    return pi


def _mark_paid(ctx: Ctx, inv: Doc, charge: str | None = None) -> None:
    d = inv.data
    d.update(
        status="paid",
        paid=True,
        amount_paid=d["amount_due"],
        amount_remaining=0,
        charge=charge,
        attempted=True,
        attempt_count=d["attempt_count"] + (1 if charge else 0),
        next_payment_attempt=None,
    )
    d["status_transitions"] = {**d["status_transitions"], "paid_at": ctx.now}
    ctx.store.save(inv)
    ctx.emit("invoice.paid", inv, previous={"status": "open", "paid": False})
    ctx.emit("invoice.payment_succeeded", inv)


async def paid_by(ctx: Ctx, invoice_id: str, pi: Doc) -> None:
    from escrowd.sandbox.stripe.resources.billing_cycle import invoice_paid

    inv = await ctx.store.require(invoice_id, KIND, lock=True)
    if inv.data["status"] != "open":
        return
    _mark_paid(ctx, inv, pi.data["latest_charge"])
    await invoice_paid(ctx, inv, pi)


async def failed(ctx: Ctx, pi: Doc) -> None:
    from escrowd.sandbox.stripe.resources.billing_cycle import invoice_failed

    inv = await ctx.store.require(pi.data["invoice"], KIND, lock=True)
    d = inv.data
    d.update(attempted=True, attempt_count=d["attempt_count"] + 1)
    ctx.store.save(inv)
    ctx.emit("invoice.payment_failed", inv)
    await invoice_failed(ctx, inv)


async def attempt(ctx: Ctx, pi: Doc, pm_id: str | None, *, off_session: bool) -> StripeError | None:
    """Pay an invoice's PaymentIntent with ``pm_id``; a decline is returned, not raised."""
    from escrowd.sandbox.stripe.resources import payments
    from escrowd.sandbox.stripe.resources.payment_methods import resolve

    if pm_id is None:
        await failed(ctx, pi)
        return InvalidRequestError(
            "This customer has no attached payment source or default payment method.",
            code="resource_missing",
        )
    pm = await resolve(ctx, pm_id)
    try:
        await payments.pay(ctx, pi, pm, off_session=off_session)
    except StripeError as exc:
        return exc
    return None


async def _confirmation_secret(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any] | None:
    pi_id = invoice.get("payment_intent")
    pi = await ctx.store.get(pi_id, type="payment_intent") if pi_id else None
    if pi is None or invoice.get("status") != "open":
        return None
    return {"client_secret": pi.data["client_secret"], "type": "payment_intent"}


async def _payments(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice's payments as API versions from 2025-03-31 show them (the only place they
    name its PaymentIntent): one per invoice here, ``paid`` once the invoice is."""
    in_id, pi_id = invoice["id"], invoice.get("payment_intent")
    rows = []
    if pi_id:
        paid = invoice.get("status") == "paid"
        rows.append(
            {
                "id": f"inpay_{in_id.removeprefix('in_')}",
                "object": "invoice_payment",
                "amount_paid": invoice["amount_paid"] if paid else None,
                "amount_requested": invoice["amount_due"],
                "created": invoice["created"],
                "currency": invoice["currency"],
                "invoice": in_id,
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": pi_id},
                "status": "paid" if paid else "open",
                "status_transitions": {
                    "canceled_at": None,
                    "paid_at": invoice["status_transitions"]["paid_at"],
                },
            }
        )
    return list_body(f"/v1/invoice_payments?invoice={in_id}", rows, False)


INCLUDABLE[("invoice", "confirmation_secret")] = _confirmation_secret
INCLUDABLE[("invoice", "payments")] = _payments


retrievable("/v1/invoices/{invoice}", KIND)


@api(
    "POST",
    "/v1/invoices/{invoice}/pay",
    {
        "payment_method": Str(),
        "off_session": Bool(),
        "forgive": Bool(),
        "paid_out_of_band": Bool(),
        "mandate": Any_(),
        "source": Str(),
    },
)
async def pay(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    inv = await ctx.store.require(a["invoice"], KIND, account=ctx.account, lock=True)
    if inv.data["status"] != "open":
        raise InvalidRequestError(
            f"Invoice is already {inv.data['status']}.", code="invoice_not_open"
        )
    if p.get("paid_out_of_band"):
        inv.data["paid_out_of_band"] = True
        _mark_paid(ctx, inv)
        return inv
    pi = await ctx.store.require(inv.data["payment_intent"], "payment_intent", lock=True)
    sub = await ctx.store.require(inv.data["subscription"], "subscription", lock=True)
    cus = await ctx.store.require(inv.data["customer"], "customer")
    pm_id = (
        p.get("payment_method")
        or sub.data["default_payment_method"]
        or cus.data["invoice_settings"]["default_payment_method"]
    )
    error = await attempt(ctx, pi, pm_id, off_session=p.get("off_session", True))
    if error is not None:
        raise error
    return inv


@api(
    "GET",
    "/v1/invoices",
    {
        "customer": Str(),
        "subscription": Str(),
        "created": Range(),
        "due_date": Any_(),
        "collection_method": Str(),
        "status": Enum("draft", "open", "paid", "uncollectible", "void"),
    },
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    parent, match = p.get("subscription"), ("customer", "status")
    return await paged(ctx, p, KIND, "/v1/invoices", parent=parent, match=match)
