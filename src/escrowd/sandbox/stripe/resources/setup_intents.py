"""SetupIntents: save a card for later (off-session) payments.

Confirming authenticates 3-D Secure cards on the hosted page (4000 0025 0000 3155 then pays
off-session without authentication, as on Stripe); declining cards fail with a 402 and
``last_setup_error``. On success the card is attached to the intent's customer.
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError, attempt_error, unexpected_state
from escrowd.sandbox.stripe.ids import client_secret, new_id, token
from escrowd.sandbox.stripe.params import Any_, Bool, Enum, List, Meta, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources.payment_methods import card_of, check_usable, resolve
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

KIND = "setup_intent"
_CONFIRMABLE = ["requires_confirmation", "requires_payment_method", "requires_action"]
_CONFIRM_FIELDS = {
    "payment_method": Str(),
    "return_url": Str(),
    "mandate_data": Any_(),
    "payment_method_options": Any_(),
    "use_stripe_sdk": Bool(),
}


@api(
    "POST",
    "/v1/setup_intents",
    {
        **_CONFIRM_FIELDS,
        "confirm": Bool(),
        "customer": Str(),
        "description": Str(),
        "metadata": Meta(),
        "usage": Enum("off_session", "on_session"),
        "payment_method_types": List(Str()),
        "automatic_payment_methods": Any_(),
        "attach_to_self": Bool(),
        "flow_directions": Any_(),
        "on_behalf_of": Str(),
        "single_use": Any_(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    if p.get("customer"):
        await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
    pm = await resolve(ctx, p["payment_method"]) if p.get("payment_method") else None
    seti_id = new_id("seti")
    data = {
        "id": seti_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": client_secret(seti_id),
        "created": ctx.now,
        "customer": p.get("customer"),
        "description": p.get("description"),
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": merge_metadata({}, p.get("metadata")),
        "next_action": None,
        "on_behalf_of": p.get("on_behalf_of"),
        "payment_method": pm.id if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": p.get("payment_method_types") or ["card"],
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": p.get("usage", "off_session"),
    }
    si = ctx.store.create(KIND, data, account=ctx.account, parent=p.get("customer"))
    if p.get("return_url"):
        si.private["return_url"] = p["return_url"]
    ctx.emit("setup_intent.created", si)
    if p.get("confirm"):
        await _confirm(ctx, si, p)
    return si


retrievable("/v1/setup_intents/{intent}", KIND, {"client_secret": Str()})


@api(
    "POST",
    "/v1/setup_intents/{intent}",
    {"customer": Str(), "description": Str(), "metadata": Meta(), "payment_method": Str()},
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    si = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    d = si.data
    if "customer" in p:
        await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
        d["customer"] = p["customer"]
    if "description" in p:
        d["description"] = p["description"]
    if "metadata" in p:
        d["metadata"] = merge_metadata(d["metadata"] or {}, p["metadata"])
    if p.get("payment_method"):
        d["payment_method"] = (await resolve(ctx, p["payment_method"])).id
        if d["status"] == "requires_payment_method":
            d["status"] = "requires_confirmation"
    ctx.store.save(si)
    return si


@api("POST", "/v1/setup_intents/{intent}/confirm", {**_CONFIRM_FIELDS, "client_secret": Str()})
async def confirm(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    si = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    await _confirm(ctx, si, p)
    return si


async def _confirm(ctx: Ctx, si: Doc, p: dict[str, Any]) -> None:
    d = si.data
    if d["status"] not in _CONFIRMABLE:
        raise unexpected_state(KIND, "confirmed", d["status"], _CONFIRMABLE, obj=d)
    value = p.get("payment_method") or d["payment_method"]
    if not value:
        raise InvalidRequestError(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
        )
    pm = await resolve(ctx, value)
    check_usable(pm)
    if p.get("return_url"):
        si.private["return_url"] = p["return_url"]
    d["payment_method"] = pm.id
    card = card_of(pm)
    if card.declines_on_attach and card.decline is not None:
        reason = card.decline
        d.update(
            status="requires_payment_method",
            payment_method=None,
            last_setup_error=reason.attempt_error(pm.data),
        )
        ctx.store.save(si)
        ctx.emit("setup_intent.setup_failed", si)
        raise reason.error(setup_intent=d, payment_method=pm.data)
    if card.three_ds is not None:
        secret = token(20)
        si.private["auth"] = {"token": secret, "pm": pm.id}
        d.update(
            status="requires_action",
            next_action={
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "return_url": si.private.get("return_url"),
                    "url": f"{ctx.base_url}/3ds/{si.id}?token={secret}",
                },
            },
        )
        ctx.store.save(si)
        ctx.emit("setup_intent.requires_action", si)
        return
    succeed(ctx, si, pm)


def succeed(ctx: Ctx, si: Doc, pm: Doc) -> None:
    d = si.data
    pm.private["set_up"] = True
    customer = d["customer"]
    if customer and pm.data["customer"] is None:
        pm.data["customer"] = customer
        pm.parent = customer
        ctx.emit("payment_method.attached", pm, previous={"customer": None})
    ctx.store.save(pm)
    si.private.pop("auth", None)
    d.update(status="succeeded", payment_method=pm.id, next_action=None, last_setup_error=None)
    ctx.store.save(si)
    ctx.emit("setup_intent.succeeded", si)


def fail_authentication(ctx: Ctx, si: Doc, pm: Doc) -> None:
    si.private.pop("auth", None)
    si.data.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_setup_error=attempt_error(
            "invalid_request_error",
            "setup_intent_authentication_failure",
            "The latest attempt to set up the payment method has failed because "
            "authentication failed.",
            pm.data,
        ),
    )
    ctx.store.save(si)
    ctx.emit("setup_intent.setup_failed", si)


@api(
    "POST",
    "/v1/setup_intents/{intent}/cancel",
    {"cancellation_reason": Enum("abandoned", "duplicate", "requested_by_customer")},
)
async def cancel(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    si = await ctx.store.require(a["intent"], KIND, account=ctx.account, lock=True)
    d = si.data
    if d["status"] in ("succeeded", "canceled", "processing"):
        raise unexpected_state(KIND, "canceled", d["status"], _CONFIRMABLE, obj=d)
    d.update(status="canceled", cancellation_reason=p.get("cancellation_reason"), next_action=None)
    ctx.store.save(si)
    ctx.emit("setup_intent.canceled", si)
    return si


@api(
    "GET",
    "/v1/setup_intents",
    {"customer": Str(), "payment_method": Str(), "created": Range(), "attach_to_self": Bool()},
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await paged(ctx, p, KIND, "/v1/setup_intents", parent=p.get("customer"))
