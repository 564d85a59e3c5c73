"""Refunds: of captured charges only, never beyond what is left, as Stripe refuses them.

``reverse_transfer`` takes back the destination charge's transfer and ``refund_application_fee``
returns the platform fee, both in proportion to the refund (Stripe's rule).
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Bool, Enum, Int, Meta, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import balance, destination
from escrowd.sandbox.stripe.resources.charges import refundable
from escrowd.sandbox.stripe.resources.common import major, positive
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc


async def _charge_of(ctx: Ctx, p: dict[str, Any]) -> Doc:
    if not p.get("charge") and not p.get("payment_intent"):
        raise InvalidRequestError(
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
            code="parameter_missing",
        )
    if p.get("payment_intent"):
        pi = await ctx.store.require(
            p["payment_intent"], "payment_intent", account=ctx.account, param="payment_intent"
        )
        if pi.data["status"] != "succeeded" or not pi.data["latest_charge"]:
            hint = (
                " It is not captured yet: cancel the PaymentIntent to release the authorization."
                if pi.data["status"] == "requires_capture"
                else ""
            )
            raise InvalidRequestError(
                f"This PaymentIntent ({pi.id}) does not have a successful charge to refund.{hint}",
                code="charge_not_refundable",
                param="payment_intent",
            )
        if p.get("charge") and p["charge"] != pi.data["latest_charge"]:
            raise InvalidRequestError(
                "The charge and payment_intent parameters do not match.", param="charge"
            )
        return await ctx.store.require(pi.data["latest_charge"], "charge", lock=True)
    ch = await ctx.store.require(
        p["charge"], "charge", account=ctx.account, lock=True, param="charge"
    )
    if ch.data["status"] != "succeeded" or not ch.data["captured"]:
        raise InvalidRequestError(
            f"Charge {ch.id} has not been captured, so it cannot be refunded. To release an "
            "uncaptured payment, cancel its PaymentIntent instead.",
            code="charge_not_refundable",
            param="charge",
        )
    return ch


@api(
    "POST",
    "/v1/refunds",
    {
        "amount": Int(),
        "charge": Str(),
        "payment_intent": Str(),
        "currency": Str(),
        "customer": Str(),
        "instructions_email": Str(),
        "metadata": Meta(),
        "origin": Enum("customer_balance"),
        "reason": Enum("duplicate", "fraudulent", "requested_by_customer"),
        "refund_application_fee": Bool(),
        "reverse_transfer": Bool(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    ch = await _charge_of(ctx, p)
    c = ch.data
    if c["disputed"] and ch.private.get("dispute_open"):
        raise InvalidRequestError(
            f"Charge {ch.id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    left = refundable(ch)
    if left <= 0:
        raise InvalidRequestError(
            f"Charge {ch.id} has already been refunded.", code="charge_already_refunded"
        )
    amount = positive(p.get("amount", left))
    if amount > left:
        cur = c["currency"]
        raise InvalidRequestError(
            f"Refund amount ({major(amount, cur)}) is greater than unrefunded amount on charge "
            f"({major(left, cur)})",
            code="amount_too_large",
            param="amount",
        )
    if p.get("reverse_transfer") and not c.get("transfer"):
        raise InvalidRequestError(
            "reverse_transfer can only be used on a destination charge (one with "
            "transfer_data[destination]).",
            param="reverse_transfer",
        )
    if p.get("refund_application_fee") and not c["application_fee"]:
        raise InvalidRequestError(
            "refund_application_fee can only be used on a charge with an application fee.",
            param="refund_application_fee",
        )
    re_id = new_id("re")
    txn = balance.record(
        ctx,
        account=ch.account,
        amount=-amount,
        currency=c["currency"],
        type="refund",
        source=re_id,
        description="REFUND FOR CHARGE",
    )
    data: dict[str, Any] = {
        "id": re_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn.id,
        "charge": ch.id,
        "created": ctx.now,
        "currency": c["currency"],
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": merge_metadata({}, p.get("metadata")),
        "payment_intent": c["payment_intent"],
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    if p.get("reverse_transfer"):
        data["transfer_reversal"] = await destination.reverse_for_refund(ctx, ch, amount, re_id)
    if p.get("refund_application_fee"):
        await destination.refund_application_fee(ctx, ch, amount)
    refund = ctx.store.create("refund", data, account=ch.account, parent=ch.id)
    previous = {"amount_refunded": c["amount_refunded"], "refunded": c["refunded"]}
    c["amount_refunded"] += amount
    c["refunded"] = c["amount_refunded"] >= c["amount"]
    ctx.store.save(ch)
    ctx.emit("charge.refunded", ch, previous=previous)
    ctx.emit("refund.created", refund)
    return refund


retrievable("/v1/refunds/{refund}", "refund")


@api("POST", "/v1/refunds/{refund}", {"metadata": Meta()})
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    refund = await ctx.store.require(a["refund"], "refund", account=ctx.account, lock=True)
    if "metadata" in p:
        refund.data["metadata"] = merge_metadata(refund.data["metadata"] or {}, p["metadata"])
        ctx.store.save(refund)
    return refund


@api(
    "GET",
    "/v1/refunds",
    {"charge": Str(), "payment_intent": Str(), "created": Range()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    parent, match = p.get("charge"), ("payment_intent",)
    return await paged(ctx, p, "refund", "/v1/refunds", parent=parent, match=match)
