"""Subscriptions: create (``payment_behavior``, trials), update (``cancel_at_period_end``, price,
default method), cancel, list. Renewals on the sandbox clock: ``billing_cycle``."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id
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
from escrowd.sandbox.stripe.resources import invoices
from escrowd.sandbox.stripe.resources.billing_cycle import (
    INCOMPLETE_SECONDS,
    KIND,
    end,
    next_end,
    set_period,
)
from escrowd.sandbox.stripe.resources.common import DAY
from escrowd.sandbox.stripe.resources.invoices import plan_of
from escrowd.sandbox.stripe.routes import api, list_body, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

_BEHAVIOR = Enum(
    "allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"
)
_ITEM = Obj(
    {
        "price": Str(),
        "quantity": Int(min=1),
        "metadata": Meta(),
        "id": Str(),
        "deleted": Bool(),
        "price_data": Any_(),
        "billing_thresholds": Any_(),
        "tax_rates": Any_(),
    }
)
_SETTINGS = Obj(
    {
        "save_default_payment_method": Enum("off", "on_subscription"),
        "payment_method_options": Any_(),
        "payment_method_types": Any_(),
    }
)


async def _items(ctx: Ctx, given: list[dict[str, Any]], sub_id: str) -> list[dict[str, Any]]:
    if not given:
        raise InvalidRequestError(
            "Missing required param: items.", code="parameter_missing", param="items"
        )
    out = []
    for n, item in enumerate(given):
        price = await ctx.store.require(
            item.get("price"), "price", account=ctx.account, param=f"items[{n}][price]"
        )
        if price.data["type"] != "recurring":
            raise InvalidRequestError(
                f"The price specified ({price.id}) is a one-time price; subscriptions need "
                "recurring prices.",
                param=f"items[{n}][price]",
            )
        out.append(
            {
                "id": new_id("si"),
                "object": "subscription_item",
                "billing_thresholds": None,
                "created": ctx.now,
                "current_period_end": None,
                "current_period_start": None,
                "discounts": [],
                "metadata": merge_metadata({}, item.get("metadata")),
                "plan": plan_of(price.data),
                "price": price.data,
                "quantity": item.get("quantity", 1),
                "subscription": sub_id,
                "tax_rates": [],
            }
        )
    first = out[0]["price"]
    for item in out[1:]:
        p = item["price"]
        if p["currency"] != first["currency"] or p["recurring"] != first["recurring"]:
            raise InvalidRequestError(
                "All prices on a subscription must have the same currency and billing interval.",
                param="items",
            )
    return out


@api(
    "POST",
    "/v1/subscriptions",
    {
        "customer": Str(required=True),
        "items": List(_ITEM, required=True),
        "payment_behavior": _BEHAVIOR,
        "default_payment_method": Str(),
        "cancel_at_period_end": Bool(),
        "metadata": Meta(),
        "description": Str(),
        "collection_method": Enum("charge_automatically"),
        "off_session": Bool(),
        "trial_period_days": Int(min=0, max=730),
        "payment_settings": _SETTINGS,
        "proration_behavior": Any_(),
        "currency": Str(),
        "automatic_tax": Any_(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    cus = await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
    sub_id = new_id("sub")
    items = await _items(ctx, p["items"], sub_id)
    pm_id = None
    if p.get("default_payment_method"):
        from escrowd.sandbox.stripe.resources.payment_methods import resolve

        pm = await resolve(ctx, p["default_payment_method"], param="default_payment_method")
        if pm.data["customer"] != cus.id:
            raise InvalidRequestError(
                "The customer does not have a payment method with the ID "
                f"{pm.id}. The payment method must be attached to the customer.",
                code="resource_missing",
                param="default_payment_method",
            )
        pm_id = pm.id
    trial_days = p.get("trial_period_days") or 0
    anchor = ctx.now + trial_days * DAY if trial_days else ctx.now
    data = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False},
        "billing_cycle_anchor": anchor,
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": ctx.now,
        "currency": items[0]["price"]["currency"],
        "current_period_end": anchor,
        "current_period_start": ctx.now,
        "customer": cus.id,
        "days_until_due": None,
        "default_payment_method": pm_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": p.get("description"),
        "discount": None,
        "discounts": [],
        "ended_at": None,
        "items": list_body(f"/v1/subscription_items?subscription={sub_id}", items, False)
        | {"total_count": len(items)},
        "latest_invoice": None,
        "livemode": False,
        "metadata": merge_metadata({}, p.get("metadata")),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": (p.get("payment_settings") or {}).get(
                "save_default_payment_method", "off"
            ),
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": ctx.now,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": anchor if trial_days else None,
        "trial_start": ctx.now if trial_days else None,
    }
    sub = ctx.store.create(KIND, data, account=ctx.account, parent=cus.id)
    sub.private["save_default"] = data["payment_settings"]["save_default_payment_method"]
    if trial_days:
        set_period(sub, ctx.now, anchor)
        sub.private["cycle"] = 0
    else:
        set_period(sub, ctx.now, next_end(sub))
    inv, pi = await invoices.create_for(
        ctx,
        sub,
        reason="subscription_create",
        start=ctx.now,
        end=data["current_period_end"],
        free=bool(trial_days),
    )
    data["latest_invoice"] = inv.id
    if p.get("cancel_at_period_end"):
        data.update(
            cancel_at_period_end=True, cancel_at=data["current_period_end"], canceled_at=ctx.now
        )
    if pi is None:
        data["status"] = "trialing" if trial_days else "active"
    ctx.emit("customer.subscription.created", sub)
    if pi is None:
        return sub
    behavior = p.get("payment_behavior") or "allow_incomplete"
    default = pm_id or cus.data["invoice_settings"]["default_payment_method"]
    if behavior == "default_incomplete":
        sub.due_at = ctx.now + INCOMPLETE_SECONDS
        if default:
            pi.data.update(payment_method=default, status="requires_confirmation")
        return sub
    error = await invoices.attempt(ctx, pi, default, off_session=bool(p.get("off_session")))
    if sub.data["status"] == "incomplete":
        sub.due_at = ctx.now + INCOMPLETE_SECONDS
    if error is not None and behavior == "error_if_incomplete":
        error.commit = False  # Stripe creates no subscription then
        raise error
    return sub


retrievable("/v1/subscriptions/{subscription}", KIND)


@api(
    "POST",
    "/v1/subscriptions/{subscription}",
    {
        "cancel_at_period_end": Bool(),
        "metadata": Meta(),
        "default_payment_method": Str(),
        "description": Str(emptyable=True),
        "items": List(_ITEM),
        "proration_behavior": Enum("always_invoice", "create_prorations", "none"),
        "payment_behavior": _BEHAVIOR,
        "cancellation_details": Any_(),
        "off_session": Bool(),
        "payment_settings": _SETTINGS,
    },
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    sub = await ctx.store.require(a["subscription"], KIND, account=ctx.account, lock=True)
    d = sub.data
    if d["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequestError(
            f"A canceled subscription can only update its cancellation_details and metadata "
            f"(subscription {sub.id} is {d['status']})."
        )
    previous: dict[str, Any] = {}
    if "cancel_at_period_end" in p:
        previous.update(
            cancel_at_period_end=d["cancel_at_period_end"],
            cancel_at=d["cancel_at"],
            canceled_at=d["canceled_at"],
        )
        on = p["cancel_at_period_end"]
        d.update(
            cancel_at_period_end=on,
            cancel_at=d["current_period_end"] if on else None,
            canceled_at=ctx.now if on else None,
        )
    if "metadata" in p:
        previous["metadata"] = d["metadata"]
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    if "description" in p:
        previous["description"] = d["description"]
        d["description"] = p["description"]
    if p.get("default_payment_method"):
        from escrowd.sandbox.stripe.resources.payment_methods import resolve

        pm = await resolve(ctx, p["default_payment_method"], param="default_payment_method")
        previous["default_payment_method"] = d["default_payment_method"]
        d["default_payment_method"] = pm.id
    if p.get("items"):
        previous["items"] = d["items"]
        await _change_items(ctx, sub, p["items"])
    ctx.store.save(sub)
    ctx.emit("customer.subscription.updated", sub, previous=previous)
    return sub


async def _change_items(ctx: Ctx, sub: Doc, given: list[dict[str, Any]]) -> None:
    """Swap prices (effective from the next invoice: the sandbox does not prorate)."""
    d = sub.data
    current = {i["id"]: i for i in d["items"]["data"]}
    keep = [i for i in d["items"]["data"]]
    for n, item in enumerate(given):
        if item.get("id") and item["id"] not in current:
            raise InvalidRequestError(
                f"No such subscription item: '{item['id']}'",
                param=f"items[{n}][id]",
                code="resource_missing",
            )
        if item.get("deleted"):
            keep = [i for i in keep if i["id"] != item.get("id")]
            continue
        new = (await _items(ctx, [item], sub.id))[0] if item.get("price") else None
        if item.get("id"):
            old = current[item["id"]]
            replaced = {**old, **({"price": new["price"], "plan": new["plan"]} if new else {})}
            if "quantity" in item:
                replaced["quantity"] = item["quantity"]
            keep = [replaced if i["id"] == old["id"] else i for i in keep]
        elif new is not None:
            keep.append(
                {
                    **new,
                    "current_period_start": d["current_period_start"],
                    "current_period_end": d["current_period_end"],
                }
            )
    d["items"] = {**d["items"], "data": keep, "total_count": len(keep)}


@api(
    "DELETE",
    "/v1/subscriptions/{subscription}",
    {"invoice_now": Bool(), "prorate": Bool(), "cancellation_details": Any_()},
)
async def cancel(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    sub = await ctx.store.require(a["subscription"], KIND, account=ctx.account, lock=True)
    if sub.data["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequestError(
            f"No such subscription: '{sub.id}' (it is already canceled).",
            code="resource_missing",
            param="subscription",
            status=404,
        )
    end(ctx, sub, "canceled", at=ctx.now)
    return sub


@api(
    "GET",
    "/v1/subscriptions",
    {
        "customer": Str(),
        "price": Str(),
        "created": Range(),
        "current_period_end": Any_(),
        "current_period_start": Any_(),
        "collection_method": Str(),
        "test_clock": Any_(),
        "status": Enum(
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ),
    },
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    status, price = p.get("status"), p.get("price")

    def keep(o: Doc) -> bool:
        s = o.data["status"]
        if status in (None, "all"):
            ok = status == "all" or s not in ("canceled", "incomplete_expired")
        elif status == "ended":
            ok = s in ("canceled", "incomplete_expired")
        else:
            ok = s == status
        if price:
            ok = ok and any(i["price"]["id"] == price for i in o.data["items"]["data"])
        return ok

    return await paged(ctx, p, KIND, "/v1/subscriptions", parent=p.get("customer"), keep=keep)
