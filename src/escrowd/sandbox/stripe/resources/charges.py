"""Charges: made by PaymentIntents (never created directly here); retrieve, update, list."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.cards import Decline, TestCard
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Any_, Meta, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

#: Manual-capture card authorizations stay valid 7 days online (provider-facts).
AUTHORIZATION_SECONDS = 7 * 86400


def _outcome(decline: Decline | None) -> dict[str, Any]:
    if decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": decline.decline_code,
        "risk_level": "normal",
        "risk_score": 40,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def build(
    ctx: Ctx,
    pi: Doc,
    pm: Doc,
    card: TestCard,
    *,
    decline: Decline | None = None,
    three_d_secure: bool = False,
) -> Doc:
    p = pi.data
    amount = p["amount"]
    manual = p["capture_method"] == "manual"
    card_data = pm.data["card"]
    details = {
        "amount_authorized": None if decline else amount,
        "brand": card.brand,
        "capture_before": ctx.now + AUTHORIZATION_SECONDS if manual and not decline else None,
        "checks": dict(card_data["checks"], cvc_check="pass"),
        "country": "US",
        "exp_month": card_data["exp_month"],
        "exp_year": card_data["exp_year"],
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.last4,
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.brand,
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "three_d_secure": (
            {
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "result": "authenticated",
                "result_reason": None,
                "transaction_id": new_id("3ds"),
                "version": "2.2.0",
            }
            if three_d_secure
            else None
        ),
        "wallet": None,
    }
    data = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": p["application_fee_amount"],
        "balance_transaction": None,
        "billing_details": pm.data["billing_details"],
        "calculated_statement_descriptor": "ESCROWD SANDBOX",
        "captured": False,
        "created": ctx.now,
        "currency": p["currency"],
        "customer": p["customer"],
        "description": p["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": decline.code if decline else None,
        "failure_message": decline.message if decline else None,
        "fraud_details": {},
        "invoice": p.get("invoice"),
        "livemode": False,
        "metadata": dict(p["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome(decline),
        "paid": decline is None,
        "payment_intent": pi.id,
        "payment_method": pm.id,
        "payment_method_details": {"card": details, "type": "card"},
        "radar_options": {},
        "receipt_email": p["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": p.get("shipping"),
        "source_transfer": None,
        "statement_descriptor": p["statement_descriptor"],
        "statement_descriptor_suffix": p["statement_descriptor_suffix"],
        "status": "failed" if decline else "succeeded",
        "transfer_data": (
            {
                "amount": p["transfer_data"].get("amount"),
                "destination": p["transfer_data"]["destination"],
            }
            if p["transfer_data"]
            else None
        ),
        "transfer_group": p["transfer_group"],
    }
    return ctx.store.create(
        "charge", data, account=pi.account, parent=pi.id, private={"card": card.number}
    )


def refundable(ch: Doc) -> int:
    """What a refund may still return: captured minus refunded (releases are not refundable)."""
    released = int(ch.private.get("released", 0))
    return int(ch.data["amount_captured"]) - (int(ch.data["amount_refunded"]) - released)


retrievable("/v1/charges/{charge}", "charge")


@api(
    "POST",
    "/v1/charges/{charge}",
    {
        "metadata": Meta(),
        "description": Str(emptyable=True),
        "receipt_email": Str(emptyable=True),
        "transfer_group": Str(),
        "shipping": Any_(),
        "fraud_details": Any_(),
    },
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    ch = await ctx.store.require(a["charge"], "charge", account=ctx.account, lock=True)
    previous: dict[str, Any] = {}
    for key in ("description", "receipt_email", "transfer_group", "shipping"):
        if key in p:
            previous[key] = ch.data.get(key)
            ch.data[key] = p[key]
    if "metadata" in p:
        previous["metadata"] = ch.data["metadata"]
        ch.data["metadata"] = merge_metadata(ch.data["metadata"], p["metadata"])
    ctx.store.save(ch)
    ctx.emit("charge.updated", ch, previous=previous)
    return ch


@api(
    "GET",
    "/v1/charges",
    {"payment_intent": Str(), "customer": Str(), "transfer_group": Str(), "created": Range()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    parent, match = p.get("payment_intent"), ("customer", "transfer_group")
    return await paged(ctx, p, "charge", "/v1/charges", parent=parent, match=match)
