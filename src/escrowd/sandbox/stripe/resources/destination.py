"""Destination charges (``transfer_data[destination]``): after capture the money moves on to
the connected account, minus ``application_fee_amount`` (an application fee for the platform).
Refunds reverse the transfer and refund the fee in proportion when asked (Stripe's rule).
"""

from __future__ import annotations

from decimal import Decimal

from escrowd.money import round_minor
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.ids import PLATFORM, new_id
from escrowd.sandbox.stripe.resources import balance
from escrowd.sandbox.stripe.resources.reversals import reverse
from escrowd.sandbox.stripe.resources.transfers import check_destination, make_transfer
from escrowd.sandbox.stripe.routes import list_body, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc


async def after_capture(ctx: Ctx, pi: Doc, ch: Doc) -> None:
    """Destination charges: move the money on to the connected account, minus the fee."""
    td = pi.data["transfer_data"]
    if not td:
        return
    c = ch.data
    dest = await check_destination(ctx, td["destination"], param="transfer_data[destination]")
    fixed = td.get("amount")
    fee = 0 if fixed is not None else int(pi.data["application_fee_amount"] or 0)
    amount = min(fixed, c["amount_captured"]) if fixed is not None else c["amount_captured"]
    tr = make_transfer(
        ctx,
        amount=amount,
        cur=c["currency"],
        dest=dest.id,
        group=c["transfer_group"],
        source=ch,
        metadata={},
        fee=fee,
    )
    c["transfer"] = tr.id
    if fee:
        fee_id = new_id("fee")
        txn = balance.record(
            ctx,
            account=PLATFORM,
            amount=fee,
            currency=c["currency"],
            type="application_fee",
            source=fee_id,
            available_on=ch.private.get("available_on"),
        )
        data = {
            "id": fee_id,
            "object": "application_fee",
            "account": dest.id,
            "amount": fee,
            "amount_refunded": 0,
            "application": "ca_EscrowdSandbox",
            "balance_transaction": txn.id,
            "charge": tr.data["destination_payment"],
            "created": ctx.now,
            "currency": c["currency"],
            "livemode": False,
            "originating_transaction": ch.id,
            "refunded": False,
            "refunds": list_body(f"/v1/application_fees/{fee_id}/refunds", [], False),
        }
        ctx.emit(
            "application_fee.created",
            ctx.store.create("application_fee", data, account=PLATFORM, parent=ch.id),
        )
        c["application_fee"] = fee_id


def proportional(part: int, whole: int, of: int) -> int:
    return round_minor(Decimal(of) * part / whole) if whole else 0


async def reverse_for_refund(ctx: Ctx, ch: Doc, refund_amount: int, refund_id: str) -> str:
    tr = await ctx.store.require(ch.data["transfer"], "transfer", lock=True)
    share = proportional(refund_amount, ch.data["amount_captured"], tr.data["amount"])
    share = min(share, tr.data["amount"] - tr.data["amount_reversed"])
    rev = await reverse(ctx, tr, share, metadata={}, refund=refund_id)
    return rev.id


async def refund_application_fee(ctx: Ctx, ch: Doc, refund_amount: int) -> None:
    fee = await ctx.store.require(ch.data["application_fee"], "application_fee", lock=True)
    f = fee.data
    share = proportional(refund_amount, ch.data["amount_captured"], f["amount"])
    share = min(share, f["amount"] - f["amount_refunded"])
    if share <= 0:
        return
    fr_id = new_id("fr")
    txn = balance.record(
        ctx,
        account=PLATFORM,
        amount=-share,
        currency=f["currency"],
        type="application_fee_refund",
        source=fr_id,
    )
    balance.record(
        ctx,
        account=f["account"],
        amount=share,
        currency=f["currency"],
        type="application_fee_refund",
        source=fr_id,
    )
    refund = {
        "id": fr_id,
        "object": "fee_refund",
        "amount": share,
        "balance_transaction": txn.id,
        "created": ctx.now,
        "currency": f["currency"],
        "fee": fee.id,
        "metadata": {},
    }
    f["amount_refunded"] += share
    f["refunded"] = f["amount_refunded"] >= f["amount"]
    f["refunds"] = {**f["refunds"], "data": [refund, *f["refunds"]["data"]]}
    ctx.store.save(fee)
    ctx.emit("application_fee.refunded", fee)


retrievable("/v1/application_fees/{id}", "application_fee", platform=True)
