"""Disputes: 4000 0000 0000 0259 is disputed right after capture (reason fraudulent).

Settle one as on Stripe's test mode: update it with ``evidence[uncategorized_text]`` =
``winning_evidence`` (won) or ``losing_evidence`` (lost), or close it (lost, accepted).
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Bool, Meta, Obj, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import balance
from escrowd.sandbox.stripe.resources.common import DAY
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

DISPUTE_FEE = 1500
_EVIDENCE = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
_OPEN = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")


def open_dispute(ctx: Ctx, ch: Doc, pi: Doc) -> Doc:
    c = ch.data
    dp_id = new_id("dp")
    txn = balance.record(
        ctx,
        account=ch.account,
        amount=-c["amount_captured"],
        currency=c["currency"],
        type="adjustment",
        source=dp_id,
        fee=DISPUTE_FEE,
        description=f"Chargeback withdrawal for {ch.id}",
        fee_description="Dispute fee",
    )
    data = {
        "id": dp_id,
        "object": "dispute",
        "amount": c["amount_captured"],
        "balance_transactions": [txn.data],
        "charge": ch.id,
        "created": ctx.now,
        "currency": c["currency"],
        "evidence": dict.fromkeys(_EVIDENCE),
        "evidence_details": {
            "due_by": ctx.now + 7 * DAY,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": pi.id,
        "payment_method_details": {
            "card": {
                "brand": c["payment_method_details"]["card"]["brand"],
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": "fraudulent",
        "status": "needs_response",
    }
    dispute = ctx.store.create("dispute", data, account=ch.account, parent=ch.id)
    c["disputed"] = True
    ch.private["dispute_open"] = True
    ctx.store.save(ch)
    ctx.emit("charge.dispute.created", dispute)
    ctx.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def _close(ctx: Ctx, dispute: Doc, status: str) -> None:
    d = dispute.data
    previous = {"status": d["status"]}
    d["status"] = status
    if status == "won":
        txn = balance.record(
            ctx,
            account=dispute.account,
            amount=d["amount"],
            currency=d["currency"],
            type="adjustment",
            source=dispute.id,
            description=f"Chargeback reversal for {d['charge']}",
        )
        d["balance_transactions"] = [*d["balance_transactions"], txn.data]
        ctx.emit("charge.dispute.funds_reinstated", dispute)
    ctx.store.save(dispute)
    ctx.emit("charge.dispute.closed", dispute, previous=previous)


async def _clear_charge(ctx: Ctx, dispute: Doc) -> None:
    ch = await ctx.store.get(dispute.data["charge"], type="charge", lock=True)
    if ch is not None:
        ch.private.pop("dispute_open", None)
        ctx.store.save(ch)


retrievable("/v1/disputes/{dispute}", "dispute")


@api(
    "POST",
    "/v1/disputes/{dispute}",
    {"evidence": Obj({k: Str() for k in _EVIDENCE}), "metadata": Meta(), "submit": Bool()},
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    dispute = await ctx.store.require(a["dispute"], "dispute", account=ctx.account, lock=True)
    d = dispute.data
    if d["status"] not in _OPEN:
        raise InvalidRequestError(
            f"This dispute is already closed ({d['status']}).", code="dispute_already_closed"
        )
    if "metadata" in p:
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    evidence = p.get("evidence") or {}
    if evidence:
        d["evidence"] = {**d["evidence"], **evidence}
        d["evidence_details"] = {**d["evidence_details"], "has_evidence": True}
    ctx.store.save(dispute)
    text = d["evidence"].get("uncategorized_text") or ""
    if evidence and p.get("submit", True):
        d["evidence_details"]["submission_count"] += 1
        if "winning_evidence" in text or "losing_evidence" in text:
            _close(ctx, dispute, "won" if "winning_evidence" in text else "lost")
            await _clear_charge(ctx, dispute)
            return dispute
        d["status"] = "under_review"
    ctx.emit("charge.dispute.updated", dispute)
    return dispute


@api("POST", "/v1/disputes/{dispute}/close")
async def close(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    dispute = await ctx.store.require(a["dispute"], "dispute", account=ctx.account, lock=True)
    if dispute.data["status"] not in _OPEN:
        raise InvalidRequestError(
            f"This dispute is already closed ({dispute.data['status']}).",
            code="dispute_already_closed",
        )
    _close(ctx, dispute, "lost")
    await _clear_charge(ctx, dispute)
    return dispute


@api(
    "GET",
    "/v1/disputes",
    {"charge": Str(), "payment_intent": Str(), "created": Range()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    parent, match = p.get("charge"), ("payment_intent",)
    return await paged(ctx, p, "dispute", "/v1/disputes", parent=parent, match=match)
