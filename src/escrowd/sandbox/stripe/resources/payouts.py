"""Payouts from an account's available balance to its bank account.

Made ``pending``; on the arrival date (two days later on the sandbox clock, 30 minutes for
``method=instant``) they become ``paid`` (payout.paid) or, for Stripe's magic failing bank
account numbers, ``failed`` with its ``failure_code`` (payout.failed), the money returned.
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError, unexpected_state
from escrowd.sandbox.stripe.ids import PLATFORM, new_id
from escrowd.sandbox.stripe.params import Any_, Enum, Int, Meta, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import balance
from escrowd.sandbox.stripe.resources.bank_accounts import FAILURES, default_for
from escrowd.sandbox.stripe.resources.common import DAY, currency, major, positive
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

STANDARD_SECONDS = 2 * DAY
INSTANT_SECONDS = 30 * 60


@api(
    "POST",
    "/v1/payouts",
    {
        "amount": Int(required=True),
        "currency": Str(required=True),
        "description": Str(),
        "destination": Str(),
        "metadata": Meta(),
        "method": Enum("instant", "standard"),
        "source_type": Enum("bank_account", "card", "fpx"),
        "statement_descriptor": Str(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    cur = currency(p["currency"])
    amount = positive(p["amount"])
    if ctx.on_platform:
        raise InvalidRequestError(
            "The sandbox pays out connected accounts only: send the request with the "
            "Stripe-Account header of the account to pay out.",
            code="payouts_not_allowed",
        )
    acct = await ctx.store.require(ctx.account, "account", lock=True)
    if not acct.data["payouts_enabled"]:
        raise InvalidRequestError(
            "Payouts are not enabled for this account: finish onboarding (its requirements are "
            f"{', '.join(acct.data['requirements']['currently_due']) or 'pending'}).",
            code="payouts_not_allowed",
        )
    dest_id = p.get("destination") or default_for(acct, cur)
    dest = await ctx.store.get(dest_id, type="bank_account", account=acct.id) if dest_id else None
    if dest is None:
        raise InvalidRequestError(
            f"This account has no {cur} bank account to pay out to."
            if not dest_id
            else f"No such external account: '{dest_id}'",
            code="no_external_account" if not dest_id else "resource_missing",
            param="destination",
        )
    available = (await ctx.store.balances(acct.id, ctx.now)).get(cur, (0, 0))[0]
    if amount > available:
        raise InvalidRequestError(
            f"You have insufficient funds in your Stripe account for this payout: available "
            f"{major(available, cur)} {cur}, requested {major(amount, cur)} {cur}.",
            code="balance_insufficient",
            param="amount",
        )
    po_id = new_id("po")
    txn = balance.record(
        ctx,
        account=acct.id,
        amount=-amount,
        currency=cur,
        type="payout",
        source=po_id,
        description=p.get("description"),
    )
    instant = p.get("method") == "instant"
    arrival = ctx.now + (INSTANT_SECONDS if instant else STANDARD_SECONDS)
    data = {
        "id": po_id,
        "object": "payout",
        "amount": amount,
        "arrival_date": arrival,
        "automatic": False,
        "balance_transaction": txn.id,
        "created": ctx.now,
        "currency": cur,
        "description": p.get("description"),
        "destination": dest.id,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": merge_metadata({}, p.get("metadata")),
        "method": "instant" if instant else "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": p.get("source_type") or "card",
        "statement_descriptor": p.get("statement_descriptor"),
        "status": "pending",
        "type": "bank_account",
    }
    po = ctx.store.create(
        "payout", data, account=acct.id, due_at=arrival, private={"bank": dest.private["number"]}
    )
    ctx.emit("payout.created", po)
    return po


def settle(ctx: Ctx, po: Doc) -> None:
    """The arrival date came: paid, or failed for a magic failing bank account."""
    d = po.data
    po.due_at = None
    if d["status"] != "pending":
        ctx.store.save(po)
        return
    failure = FAILURES.get(po.private.get("bank", ""))
    previous = {"status": d["status"]}
    if failure is None:
        d["status"] = "paid"
        ctx.store.save(po)
        ctx.emit("payout.paid", po, previous=previous)
        return
    txn = balance.record(
        ctx,
        account=po.account,
        amount=d["amount"],
        currency=d["currency"],
        type="payout_failure",
        source=po.id,
    )
    d.update(
        status="failed",
        failure_code=failure[0],
        failure_message=failure[1],
        failure_balance_transaction=txn.id,
    )
    ctx.store.save(po)
    ctx.emit("payout.failed", po, previous=previous)


retrievable("/v1/payouts/{payout}", "payout")


@api("POST", "/v1/payouts/{payout}", {"metadata": Meta()})
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    po = await ctx.store.require(a["payout"], "payout", account=ctx.account, lock=True)
    if "metadata" in p:
        po.data["metadata"] = merge_metadata(po.data["metadata"] or {}, p["metadata"])
        ctx.store.save(po)
    return po


@api("POST", "/v1/payouts/{payout}/cancel")
async def cancel(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    po = await ctx.store.require(a["payout"], "payout", account=ctx.account, lock=True)
    d = po.data
    if d["status"] != "pending":
        raise unexpected_state("payout", "canceled", d["status"], ["pending"], obj=d)
    balance.record(
        ctx,
        account=po.account,
        amount=d["amount"],
        currency=d["currency"],
        type="payout_cancel",
        source=po.id,
    )
    d["status"] = "canceled"
    po.due_at = None
    ctx.store.save(po)
    ctx.emit("payout.canceled", po, previous={"status": "pending"})
    return po


@api(
    "GET",
    "/v1/payouts",
    {"status": Str(), "destination": Str(), "arrival_date": Any_(), "created": Range()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    account = ctx.account if not ctx.on_platform else PLATFORM
    return await paged(ctx, p, "payout", "/v1/payouts", account=account, match=("status",))
