"""Customers: create, retrieve, update (incl. the default payment method), list, delete."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id, token
from escrowd.sandbox.stripe.params import Any_, Enum, Meta, Obj, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

_ADDRESS = Obj(
    {k: Str() for k in ("city", "country", "line1", "line2", "postal_code", "state")},
    emptyable=True,
)
_FIELDS = {
    "address": _ADDRESS,
    "description": Str(emptyable=True),
    "email": Str(emptyable=True),
    "invoice_settings": Obj(
        {
            "default_payment_method": Str(emptyable=True),
            "footer": Str(emptyable=True),
            "custom_fields": Any_(),
            "rendering_options": Any_(),
        }
    ),
    "metadata": Meta(),
    "name": Str(emptyable=True),
    "phone": Str(emptyable=True),
    "preferred_locales": Any_(),
    "shipping": Any_(),
    "tax_exempt": Enum("", "exempt", "none", "reverse", emptyable=True),
    "test_clock": Any_(),
}


def _new(ctx: Ctx) -> dict[str, Any]:
    cid = new_id("cus")
    return {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


async def _apply(ctx: Ctx, cus: Doc, p: dict[str, Any]) -> dict[str, Any]:
    from escrowd.sandbox.stripe.resources.payment_methods import resolve

    data = cus.data
    previous: dict[str, Any] = {}
    for key in ("description", "email", "name", "phone", "tax_exempt", "shipping"):
        if key in p:
            previous[key] = data.get(key)
            data[key] = p[key] if p[key] is not None or key != "tax_exempt" else "none"
    if "address" in p:
        previous["address"] = data["address"]
        data["address"] = p["address"]
    if "preferred_locales" in p:
        data["preferred_locales"] = p["preferred_locales"] or []
    if "metadata" in p:
        previous["metadata"] = data["metadata"]
        data["metadata"] = merge_metadata(data["metadata"], p["metadata"])
    settings = p.get("invoice_settings") or {}
    if settings:
        new_settings = dict(data["invoice_settings"])
        previous["invoice_settings"] = data["invoice_settings"]
        if "footer" in settings:
            new_settings["footer"] = settings["footer"]
        if "default_payment_method" in settings:
            pm_id = settings["default_payment_method"]
            if pm_id is not None:
                pm = await resolve(ctx, pm_id, param="invoice_settings[default_payment_method]")
                if pm.data["customer"] != cus.id:
                    raise InvalidRequestError(
                        f"The customer does not have a payment method with the ID {pm.id}. "
                        "The payment method must be attached to the customer.",
                        code="resource_missing",
                        param="invoice_settings[default_payment_method]",
                    )
                pm_id = pm.id
            new_settings["default_payment_method"] = pm_id
        data["invoice_settings"] = new_settings
    return previous


@api(
    "POST",
    "/v1/customers",
    {**_FIELDS, "payment_method": Str(), "balance": Any_(), "tax": Any_()},
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    from escrowd.sandbox.stripe.resources.payment_methods import attach_to

    cus = ctx.store.create("customer", _new(ctx), account=ctx.account)
    if p.get("payment_method"):
        await attach_to(ctx, p["payment_method"], cus, param="payment_method")
    await _apply(ctx, cus, p)
    ctx.emit("customer.created", cus)
    return cus


retrievable("/v1/customers/{customer}", "customer")


@api("POST", "/v1/customers/{customer}", _FIELDS)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    cus = await ctx.store.require(a["customer"], "customer", account=ctx.account, lock=True)
    if cus.data.get("deleted"):
        raise InvalidRequestError("You cannot update a deleted customer.", param="customer")
    previous = await _apply(ctx, cus, p)
    ctx.store.save(cus)
    ctx.emit("customer.updated", cus, previous=previous)
    return cus


@api("DELETE", "/v1/customers/{customer}")
async def delete(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    cus = await ctx.store.require(a["customer"], "customer", account=ctx.account, lock=True)
    snapshot = dict(cus.data)
    cus.data = {"id": cus.id, "object": "customer", "deleted": True}
    ctx.store.save(cus)
    ctx.emit("customer.deleted", snapshot)
    return cus.data


@api("GET", "/v1/customers", {"email": Str(), "created": Range(), "test_clock": Any_()}, paged=True)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await paged(ctx, p, "customer", "/v1/customers", match=("email",))
