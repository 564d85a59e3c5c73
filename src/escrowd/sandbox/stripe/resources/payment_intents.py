"""PaymentIntents: create (optionally confirm), retrieve, update, confirm, capture, cancel, list."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError, unexpected_state
from escrowd.sandbox.stripe.ids import PLATFORM, client_secret, new_id
from escrowd.sandbox.stripe.params import (
    Any_,
    Bool,
    Enum,
    Int,
    List,
    Meta,
    Obj,
    Range,
    Str,
    merge_metadata,
)
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources import payments
from escrowd.sandbox.stripe.resources.common import charge_amount, currency, positive
from escrowd.sandbox.stripe.resources.payment_methods import check_usable, resolve
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

KIND = "payment_intent"
_CAPTURE = Enum("automatic", "automatic_async", "manual")
_OFF_SESSION = Any_()  # true/false or one_off/recurring; read with _truthy
_CONFIRM_FIELDS = {
    "capture_method": _CAPTURE,
    "error_on_requires_action": Bool(),
    "mandate": Any_(),
    "mandate_data": Any_(),
    "off_session": _OFF_SESSION,
    "payment_method": Str(),
    "payment_method_options": Any_(),
    "payment_method_types": List(Str()),
    "radar_options": Any_(),
    "receipt_email": Str(emptyable=True),
    "return_url": Str(),
    "setup_future_usage": Enum("off_session", "on_session", emptyable=True),
    "shipping": Any_(),
    "use_stripe_sdk": Bool(),
}
_CONFIRMABLE = ["requires_confirmation", "requires_payment_method", "requires_action"]
_CANCELABLE = [
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
]


def _truthy(value: Any) -> bool:
    return value in ("true", "one_off", "recurring")


async def _destination(ctx: Ctx, transfer_data: dict[str, Any] | None) -> None:
    from escrowd.sandbox.stripe.resources.transfers import check_destination

    if transfer_data:
        await check_destination(
            ctx, transfer_data["destination"], param="transfer_data[destination]"
        )


def new_object(ctx: Ctx, pi_id: str, **fields: Any) -> dict[str, Any]:
    """A new PaymentIntent as Stripe shows it, every field in Stripe's order: what a fresh
    one holds, with ``fields`` in place of the defaults (an API create, an invoice's)."""
    return {
        "id": pi_id,
        "object": KIND,
        "amount": 0,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": client_secret(pi_id),
        "confirmation_method": "automatic",
        "created": ctx.now,
        "currency": None,
        "customer": None,
        "description": None,
        "invoice": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    } | fields


@api(
    "POST",
    "/v1/payment_intents",
    {
        **_CONFIRM_FIELDS,
        "amount": Int(required=True),
        "currency": Str(required=True),
        "application_fee_amount": Int(),
        "automatic_payment_methods": Obj(
            {"enabled": Bool(required=True), "allow_redirects": Enum("always", "never")}
        ),
        "confirm": Bool(),
        "confirmation_method": Enum("automatic", "manual"),
        "customer": Str(),
        "description": Str(),
        "metadata": Meta(),
        "on_behalf_of": Str(),
        "statement_descriptor": Str(),
        "statement_descriptor_suffix": Str(),
        "transfer_data": Obj({"amount": Int(), "destination": Str(required=True)}),
        "transfer_group": Str(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    cur = currency(p["currency"])
    amount = charge_amount(p["amount"], cur)
    fee = p.get("application_fee_amount")
    if fee is not None:
        if fee < 0:
            raise InvalidRequestError(
                f"Invalid non-negative integer: {fee}", param="application_fee_amount"
            )
        if not p.get("transfer_data") and ctx.account == PLATFORM:
            raise InvalidRequestError(
                "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
                "direct payment (using an OAuth key or Stripe-Account header) or destination "
                "payment (using `transfer_data[destination]`).",
                param="application_fee_amount",
            )
        if fee > amount:
            raise InvalidRequestError(
                "application_fee_amount cannot be greater than amount.",
                param="application_fee_amount",
            )
    await _destination(ctx, p.get("transfer_data"))
    if p.get("customer"):
        await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
    pm = await resolve(ctx, p["payment_method"]) if p.get("payment_method") else None
    pi_id = new_id("pi")
    apm = p.get("automatic_payment_methods")
    data = new_object(
        ctx,
        pi_id,
        amount=amount,
        application_fee_amount=fee,
        automatic_payment_methods=(
            {"allow_redirects": apm.get("allow_redirects", "always"), "enabled": apm["enabled"]}
            if apm
            else None
        ),
        capture_method="manual" if p.get("capture_method") == "manual" else "automatic",
        confirmation_method=p.get("confirmation_method", "automatic"),
        currency=cur,
        customer=p.get("customer"),
        description=p.get("description"),
        metadata=merge_metadata({}, p.get("metadata")),
        on_behalf_of=p.get("on_behalf_of"),
        payment_method=pm.id if pm else None,
        payment_method_types=p.get("payment_method_types") or ["card"],
        receipt_email=p.get("receipt_email"),
        setup_future_usage=p.get("setup_future_usage"),
        shipping=p.get("shipping"),
        statement_descriptor=p.get("statement_descriptor"),
        statement_descriptor_suffix=p.get("statement_descriptor_suffix"),
        status="requires_confirmation" if pm else "requires_payment_method",
        transfer_data=p.get("transfer_data"),
        transfer_group=p.get("transfer_group"),
    )
    pi = ctx.store.create(KIND, data, account=ctx.account, parent=p.get("customer"))
    if p.get("return_url"):
        pi.private["return_url"] = p["return_url"]
    ctx.emit("payment_intent.created", pi)
    if p.get("confirm"):
        await _confirm(ctx, pi, p)
    elif p.get("off_session") is not None:
        raise InvalidRequestError(
            "off_session can only be used with confirm=true.", param="off_session"
        )
    return pi


retrievable("/v1/payment_intents/{intent}", KIND, {"client_secret": Str()})


@api(
    "POST",
    "/v1/payment_intents/{intent}",
    {
        "amount": Int(),
        "application_fee_amount": Int(),
        "capture_method": _CAPTURE,
        "currency": Str(),
        "customer": Str(),
        "description": Str(emptyable=True),
        "metadata": Meta(),
        "payment_method": Str(),
        "payment_method_options": Any_(),
        "payment_method_types": List(Str()),
        "receipt_email": Str(emptyable=True),
        "setup_future_usage": Enum("off_session", "on_session", emptyable=True),
        "shipping": Any_(),
        "statement_descriptor": Str(),
        "statement_descriptor_suffix": Str(),
        "transfer_data": Obj({"amount": Int()}),
        "transfer_group": Str(),
    },
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    pi = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    d = pi.data
    money_fields = {"amount", "currency", "payment_method", "capture_method", "customer"}
    if d["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        touched = sorted(money_fields & p.keys())
        if touched:
            raise unexpected_state(KIND, "updated", d["status"], _CONFIRMABLE, obj=d)
    previous: dict[str, Any] = {}
    cur = currency(p["currency"]) if "currency" in p else d["currency"]
    if "amount" in p or "currency" in p:
        previous.update(amount=d["amount"], currency=d["currency"])
        d["amount"] = charge_amount(p.get("amount", d["amount"]), cur)
        d["currency"] = cur
    if "customer" in p:
        await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
        previous["customer"] = d["customer"]
        d["customer"] = p["customer"]
        pi.parent = p["customer"]
    if "payment_method" in p:
        pm = await resolve(ctx, p["payment_method"])
        previous["payment_method"] = d["payment_method"]
        d["payment_method"] = pm.id
        if d["status"] == "requires_payment_method":
            d["status"] = "requires_confirmation"
    if "capture_method" in p:
        d["capture_method"] = "manual" if p["capture_method"] == "manual" else "automatic"
    for key in (
        "application_fee_amount",
        "description",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_group",
        "payment_method_types",
    ):
        if key in p:
            previous[key] = d.get(key)
            d[key] = p[key]
    if p.get("transfer_data") and d["transfer_data"]:
        d["transfer_data"] = {**d["transfer_data"], **p["transfer_data"]}
    if "metadata" in p:
        previous["metadata"] = d["metadata"]
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    ctx.store.save(pi)
    if previous:
        ctx.emit("payment_intent.updated", pi, previous=previous)
    return pi


@api("POST", "/v1/payment_intents/{intent}/confirm", {**_CONFIRM_FIELDS, "client_secret": Str()})
async def confirm(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    pi = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    await _confirm(ctx, pi, p)
    return pi


async def _confirm(ctx: Ctx, pi: Doc, p: dict[str, Any]) -> None:
    d = pi.data
    if d["status"] not in _CONFIRMABLE:
        raise unexpected_state(KIND, "confirmed", d["status"], _CONFIRMABLE, obj=d)
    value = p.get("payment_method") or d["payment_method"]
    if not value:
        raise InvalidRequestError(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You "
            "can either update the PaymentIntent with a payment method and then confirm it "
            "again, or confirm it again directly with a payment method.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": d},
        )
    pm = await resolve(ctx, value)
    check_usable(pm)
    owner = pm.data["customer"]
    if owner is not None and owner != d["customer"]:
        raise InvalidRequestError(
            "The provided PaymentMethod was previously attached to a Customer. To use it, you "
            f"must also pass the ID of that Customer ({owner})."
            if d["customer"] is None
            else "The provided PaymentMethod belongs to another Customer.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    await _destination(ctx, d["transfer_data"])
    if "capture_method" in p:
        d["capture_method"] = "manual" if p["capture_method"] == "manual" else "automatic"
    for key in ("receipt_email", "setup_future_usage", "shipping"):
        if key in p:
            d[key] = p[key]
    if p.get("return_url"):
        pi.private["return_url"] = p["return_url"]
    ctx.store.save(pi)
    await payments.pay(ctx, pi, pm, off_session=_truthy(p.get("off_session")))


@api(
    "POST",
    "/v1/payment_intents/{intent}/capture",
    {
        "amount_to_capture": Int(),
        "application_fee_amount": Int(),
        "metadata": Meta(),
        "statement_descriptor": Str(),
        "statement_descriptor_suffix": Str(),
        "transfer_data": Obj({"amount": Int()}),
        "final_capture": Bool(),
    },
)
async def capture(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    pi = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    d = pi.data
    if d["status"] != "requires_capture":
        raise unexpected_state(KIND, "captured", d["status"], ["requires_capture"], obj=d)
    ch = await ctx.store.require(d["latest_charge"], "charge", lock=True)
    if pi.due_at is not None and pi.due_at <= ctx.now:
        payments.release(ctx, pi, ch, reason="automatic")
        raise InvalidRequestError(
            "This PaymentIntent could not be captured because its authorization expired "
            f"(capture_before {pi.due_at} has passed); it is now canceled.",
            code="charge_expired_for_capture",
            extra={"payment_intent": d},
            commit=True,
        )
    amount = positive(p.get("amount_to_capture", d["amount_capturable"]), param="amount_to_capture")
    if amount > d["amount_capturable"]:
        raise InvalidRequestError(
            f"The amount_to_capture ({amount}) must be less than or equal to the "
            f"amount_capturable ({d['amount_capturable']}).",
            code="amount_too_large",
            param="amount_to_capture",
        )
    if "application_fee_amount" in p:
        if p["application_fee_amount"] > amount:
            raise InvalidRequestError(
                "application_fee_amount cannot be greater than the amount captured.",
                param="application_fee_amount",
            )
        d["application_fee_amount"] = p["application_fee_amount"]
        ch.data["application_fee_amount"] = p["application_fee_amount"]
    if p.get("transfer_data") and d["transfer_data"]:
        d["transfer_data"] = {**d["transfer_data"], **p["transfer_data"]}
    for key in ("statement_descriptor", "statement_descriptor_suffix"):
        if key in p:
            d[key] = p[key]
    if "metadata" in p:
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    await payments.capture(ctx, pi, ch, amount)
    return pi


@api(
    "POST",
    "/v1/payment_intents/{intent}/cancel",
    {"cancellation_reason": Enum("abandoned", "duplicate", "fraudulent", "requested_by_customer")},
)
async def cancel(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    pi = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    d = pi.data
    if d["status"] not in _CANCELABLE:
        raise unexpected_state(KIND, "canceled", d["status"], _CANCELABLE, obj=d)
    ch = None
    if d["latest_charge"]:
        ch = await ctx.store.get(d["latest_charge"], type="charge", lock=True)
    payments.release(ctx, pi, ch, reason=p.get("cancellation_reason"))
    return pi


@api("GET", "/v1/payment_intents", {"customer": Str(), "created": Range()}, paged=True)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await paged(ctx, p, KIND, "/v1/payment_intents", parent=p.get("customer"))
