"""Transfer reversals: partial or whole, never more than what is left of the transfer."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import PLATFORM, new_id
from escrowd.sandbox.stripe.params import Bool, Int, Meta, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import balance
from escrowd.sandbox.stripe.resources.common import major, positive
from escrowd.sandbox.stripe.routes import api
from escrowd.sandbox.stripe.store import Obj as Doc


async def reverse(
    ctx: Ctx,
    tr: Doc,
    amount: int,
    *,
    metadata: dict[str, str],
    refund: str | None = None,
    description: str | None = None,
) -> Doc:
    t = tr.data
    left = t["amount"] - t["amount_reversed"]
    if amount > left:
        cur = t["currency"]
        raise InvalidRequestError(
            f"The reversal amount ({major(amount, cur)}) is greater than what is left on the "
            f"transfer ({major(left, cur)}).",
            code="amount_too_large",
            param="amount",
        )
    trr_id = new_id("trr")
    txn = balance.record(
        ctx,
        account=PLATFORM,
        amount=amount,
        currency=t["currency"],
        type="transfer_refund",
        source=trr_id,
    )
    pyr_id = new_id("pyr")
    balance.record(
        ctx,
        account=t["destination"],
        amount=-amount,
        currency=t["currency"],
        type="payment_refund",
        source=pyr_id,
    )
    data = {
        "id": trr_id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": txn.id,
        "created": ctx.now,
        "currency": t["currency"],
        "destination_payment_refund": pyr_id,
        "metadata": metadata,
        "source_refund": refund,
        "transfer": tr.id,
    }
    rev = ctx.store.create("transfer_reversal", data, account=PLATFORM, parent=tr.id)
    previous = {"amount_reversed": t["amount_reversed"], "reversed": t["reversed"]}
    t["amount_reversed"] += amount
    t["reversed"] = t["amount_reversed"] >= t["amount"]
    revs = t["reversals"]
    t["reversals"] = {**revs, "data": [data, *revs["data"]], "total_count": len(revs["data"]) + 1}
    ctx.store.save(tr)
    ctx.emit("transfer.reversed", tr, previous=previous)
    ctx.emit("transfer.updated", tr, previous=previous)
    return rev


@api(
    "POST",
    "/v1/transfers/{id}/reversals",
    {"amount": Int(), "description": Str(), "metadata": Meta(), "refund_application_fee": Bool()},
)
async def create_reversal(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    tr = await ctx.store.require(a["id"], "transfer", account=PLATFORM, lock=True)
    left = tr.data["amount"] - tr.data["amount_reversed"]
    amount = positive(p.get("amount", left)) if left or "amount" in p else 0
    if amount == 0:
        raise InvalidRequestError(
            f"Transfer {tr.id} has already been fully reversed.", code="transfer_already_reversed"
        )
    rev = await reverse(ctx, tr, amount, metadata=merge_metadata({}, p.get("metadata")))
    if p.get("refund_application_fee") and tr.data["source_transaction"]:
        from escrowd.sandbox.stripe.resources import destination

        ch = await ctx.store.get(tr.data["source_transaction"], type="charge", lock=True)
        if ch is not None and ch.data.get("application_fee"):
            share = destination.proportional(amount, tr.data["amount"], ch.data["amount_captured"])
            await destination.refund_application_fee(ctx, ch, share)
    return rev


@api("GET", "/v1/transfers/{id}/reversals", paged=True)
async def list_reversals(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    tr = await ctx.store.require(a["id"], "transfer", account=PLATFORM)
    return await paged(
        ctx,
        p,
        "transfer_reversal",
        f"/v1/transfers/{tr.id}/reversals",
        parent=tr.id,
        account=PLATFORM,
    )


@api("GET", "/v1/transfers/{transfer}/reversals/{id}")
async def retrieve_reversal(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    rev = await ctx.store.require(a["id"], "transfer_reversal", account=PLATFORM)
    if rev.parent != a["transfer"]:
        raise InvalidRequestError(
            f"No such transfer reversal: '{a['id']}'",
            code="resource_missing",
            param="id",
            status=404,
        )
    return rev
