"""Transfers to connected accounts: create, retrieve, update, list.

A transfer is refused when the destination cannot receive transfers (its ``transfers``
capability is not active) or when the money is not there: without ``source_transaction`` the
platform's available balance must cover it; with one, what is left of that charge must.
Reversals live in ``reversals``; destination charges' money flow in ``destination``.
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import PLATFORM, new_id
from escrowd.sandbox.stripe.params import Enum, Int, Meta, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import balance
from escrowd.sandbox.stripe.resources.accounts import can_receive_transfers
from escrowd.sandbox.stripe.resources.common import currency, major, positive
from escrowd.sandbox.stripe.routes import api, list_body, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

INSUFFICIENT = (
    "You have insufficient available funds in your Stripe account. Try adding funds directly to "
    "your available balance by creating Charges using the 4000000000000077 test card. See: "
    "https://stripe.com/docs/testing#available-balance"
)


async def check_destination(ctx: Ctx, dest: Any, *, param: str = "destination") -> Doc:
    acct = await ctx.store.get(dest, type="account") if isinstance(dest, str) else None
    if acct is None:
        raise InvalidRequestError(
            f"No such destination: '{dest}'", code="resource_missing", param=param
        )
    if not can_receive_transfers(acct):
        raise InvalidRequestError(
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
            param=param,
        )
    return acct


def payment_for(ctx: Ctx, tr: dict[str, Any], dest: str, available_on: int, fee: int) -> str:
    """The ``py_`` payment the destination account sees for a transfer."""
    py_id = new_id("py")
    txn = balance.record(
        ctx,
        account=dest,
        amount=tr["amount"],
        currency=tr["currency"],
        type="payment",
        source=py_id,
        fee=fee,
        available_on=available_on,
        fee_description="Application fee",
    )
    data = {
        "id": py_id,
        "object": "charge",
        "amount": tr["amount"],
        "amount_captured": tr["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn.id,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": None,
        "captured": True,
        "created": ctx.now,
        "currency": tr["currency"],
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": None,
        "paid": True,
        "payment_intent": None,
        "payment_method": None,
        "payment_method_details": {"stripe_account": {}, "type": "stripe_account"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": tr["id"],
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": tr["transfer_group"],
    }
    ctx.store.create("charge", data, account=dest)
    return py_id


def make_transfer(
    ctx: Ctx,
    *,
    amount: int,
    cur: str,
    dest: str,
    group: str | None,
    source: Doc | None,
    metadata: dict[str, str],
    description: str | None = None,
    fee: int = 0,
) -> Doc:
    tr_id = new_id("tr")
    available_on = source.private.get("available_on", ctx.now) if source else ctx.now
    txn = balance.record(
        ctx,
        account=PLATFORM,
        amount=-amount,
        currency=cur,
        type="transfer",
        source=tr_id,
        available_on=available_on,
        description=description,
    )
    data: dict[str, Any] = {
        "id": tr_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": txn.id,
        "created": ctx.now,
        "currency": cur,
        "description": description,
        "destination": dest,
        "destination_payment": None,
        "livemode": False,
        "metadata": metadata,
        "reversals": list_body(f"/v1/transfers/{tr_id}/reversals", [], False),
        "reversed": False,
        "source_transaction": source.id if source else None,
        "source_type": "card",
        "transfer_group": group,
    }
    data["destination_payment"] = payment_for(ctx, data, dest, available_on, fee)
    tr = ctx.store.create("transfer", data, account=PLATFORM, parent=dest)
    if source is not None:
        source.private["transferred"] = int(source.private.get("transferred", 0)) + amount
        ctx.store.save(source)
    ctx.emit("transfer.created", tr)
    return tr


@api(
    "POST",
    "/v1/transfers",
    {
        "amount": Int(required=True),
        "currency": Str(required=True),
        "destination": Str(required=True),
        "description": Str(),
        "metadata": Meta(),
        "source_transaction": Str(),
        "source_type": Enum("bank_account", "card", "fpx"),
        "transfer_group": Str(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    cur = currency(p["currency"])
    amount = positive(p["amount"])
    dest = await check_destination(ctx, p["destination"])
    source = None
    if p.get("source_transaction"):
        source = await ctx.store.require(
            p["source_transaction"],
            "charge",
            account=PLATFORM,
            lock=True,
            param="source_transaction",
        )
        s = source.data
        if s["status"] != "succeeded" or not s["captured"]:
            raise InvalidRequestError(
                f"The source_transaction {source.id} is not a captured, successful charge.",
                param="source_transaction",
            )
        if s["currency"] != cur:
            raise InvalidRequestError(
                f"The currency of source_transaction {source.id} ({s['currency']}) must be the "
                f"same as the transfer currency ({cur}).",
                param="currency",
            )
        left = s["amount_captured"] - s["amount_refunded"] + source.private.get("released", 0)
        left -= int(source.private.get("transferred", 0))
        if amount > left:
            raise InvalidRequestError(
                f"Insufficient funds in the source_transaction {source.id}: the transfer "
                f"({major(amount, cur)}) is more than what is left of it ({major(left, cur)}).",
                code="balance_insufficient",
                param="amount",
            )
    else:
        available = (await ctx.store.balances(PLATFORM, ctx.now)).get(cur, (0, 0))[0]
        if amount > available:
            raise InvalidRequestError(INSUFFICIENT, code="balance_insufficient", param="amount")
    return make_transfer(
        ctx,
        amount=amount,
        cur=cur,
        dest=dest.id,
        group=p.get("transfer_group"),
        source=source,
        metadata=merge_metadata({}, p.get("metadata")),
        description=p.get("description"),
    )


retrievable("/v1/transfers/{transfer}", "transfer", platform=True)


@api("POST", "/v1/transfers/{transfer}", {"metadata": Meta(), "description": Str()})
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    tr = await ctx.store.require(a["transfer"], "transfer", account=PLATFORM, lock=True)
    if "metadata" in p:
        tr.data["metadata"] = merge_metadata(tr.data["metadata"], p["metadata"])
    if "description" in p:
        tr.data["description"] = p["description"]
    ctx.store.save(tr)
    ctx.emit("transfer.updated", tr)
    return tr


@api(
    "GET",
    "/v1/transfers",
    {"destination": Str(), "transfer_group": Str(), "created": Range()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    parent, match = p.get("destination"), ("transfer_group",)
    return await paged(
        ctx, p, "transfer", "/v1/transfers", parent=parent, account=PLATFORM, match=match
    )
