"""Products and prices (one-time or ``recurring[interval]``): the catalog subscriptions use."""

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
from escrowd.sandbox.stripe.resources.common import currency
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

_INTERVAL = Enum("day", "month", "week", "year", required=True)
_RECURRING = Obj(
    {
        "interval": _INTERVAL,
        "interval_count": Int(min=1, max=365),
        "usage_type": Enum("licensed", "metered"),
        "aggregate_usage": Any_(),
    }
)


def _product(ctx: Ctx, p: dict[str, Any], product_id: str | None = None) -> Doc:
    data = {
        "id": product_id or new_id("prod"),
        "object": "product",
        "active": p.get("active", True),
        "created": ctx.now,
        "default_price": None,
        "description": p.get("description"),
        "features": [{"name": f["name"]} for f in p.get("features") or []],
        "images": p.get("images") or [],
        "livemode": False,
        "metadata": merge_metadata({}, p.get("metadata")),
        "name": p["name"],
        "package_dimensions": None,
        "shippable": p.get("shippable"),
        "statement_descriptor": p.get("statement_descriptor"),
        "tax_code": None,
        "unit_label": p.get("unit_label"),
        "updated": ctx.now,
        "url": p.get("url"),
    }
    return ctx.store.create("product", data, account=ctx.account)


def _price(ctx: Ctx, p: dict[str, Any], product: str) -> Doc:
    cur = currency(p["currency"])
    rec = p.get("recurring")
    amount = p.get("unit_amount")
    if amount is None:
        raise InvalidRequestError(
            "Missing required param: unit_amount.", code="parameter_missing", param="unit_amount"
        )
    if amount < 0:
        raise InvalidRequestError(f"Invalid non-negative integer: {amount}", param="unit_amount")
    data = {
        "id": new_id("price"),
        "object": "price",
        "active": p.get("active", True),
        "billing_scheme": "per_unit",
        "created": ctx.now,
        "currency": cur,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": p.get("lookup_key"),
        "metadata": merge_metadata({}, p.get("metadata")),
        "nickname": p.get("nickname"),
        "product": product,
        "recurring": (
            {
                "aggregate_usage": None,
                "interval": rec["interval"],
                "interval_count": rec.get("interval_count", 1),
                "usage_type": rec.get("usage_type", "licensed"),
            }
            if rec
            else None
        ),
        "tax_behavior": p.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if rec else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
    return ctx.store.create("price", data, account=ctx.account, parent=product)


@api(
    "POST",
    "/v1/products",
    {
        "name": Str(required=True),
        "id": Str(),
        "active": Bool(),
        "description": Str(),
        "features": List(Obj({"name": Str(required=True)})),
        "images": List(Str()),
        "metadata": Meta(),
        "shippable": Bool(),
        "statement_descriptor": Str(),
        "tax_code": Str(),
        "unit_label": Str(),
        "url": Str(),
        "default_price_data": Obj(
            {
                "currency": Str(required=True),
                "unit_amount": Int(),
                "recurring": _RECURRING,
                "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
            }
        ),
    },
)
async def create_product(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    if p.get("id") and await ctx.store.get(p["id"]) is not None:
        raise InvalidRequestError(
            f"Product already exists: {p['id']}", code="resource_already_exists", param="id"
        )
    product = _product(ctx, p, p.get("id"))
    ctx.emit("product.created", product)
    if p.get("default_price_data"):
        price = _price(ctx, p["default_price_data"], product.id)
        product.data["default_price"] = price.id
        ctx.emit("price.created", price)
    return product


retrievable("/v1/products/{id}", "product")


@api(
    "POST",
    "/v1/products/{id}",
    {
        "name": Str(),
        "active": Bool(),
        "description": Str(emptyable=True),
        "metadata": Meta(),
        "default_price": Str(),
    },
)
async def update_product(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    product = await ctx.store.require(a["id"], "product", account=ctx.account, lock=True)
    d = product.data
    for key in ("name", "active", "description", "default_price"):
        if key in p:
            d[key] = p[key]
    if "metadata" in p:
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    d["updated"] = ctx.now
    ctx.store.save(product)
    ctx.emit("product.updated", product)
    return product


@api("GET", "/v1/products", {"active": Bool(), "created": Range(), "ids": Any_()}, paged=True)
async def list_products(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await paged(ctx, p, "product", "/v1/products", match=("active",))


@api(
    "POST",
    "/v1/prices",
    {
        "currency": Str(required=True),
        "unit_amount": Int(),
        "product": Str(),
        "product_data": Obj(
            {
                "name": Str(required=True),
                "metadata": Meta(),
                "active": Bool(),
                "statement_descriptor": Str(),
                "unit_label": Str(),
            }
        ),
        "recurring": _RECURRING,
        "active": Bool(),
        "billing_scheme": Enum("per_unit"),
        "lookup_key": Str(),
        "metadata": Meta(),
        "nickname": Str(),
        "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
    },
)
async def create_price(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    if p.get("product"):
        product = await ctx.store.require(
            p["product"], "product", account=ctx.account, param="product"
        )
    elif p.get("product_data"):
        product = _product(ctx, p["product_data"])
        ctx.emit("product.created", product)
    else:
        raise InvalidRequestError(
            "You must specify either product or product_data when creating a price.",
            code="parameter_missing",
            param="product",
        )
    price = _price(ctx, p, product.id)
    ctx.emit("price.created", price)
    return price


retrievable("/v1/prices/{price}", "price")


@api(
    "POST",
    "/v1/prices/{price}",
    {"active": Bool(), "metadata": Meta(), "nickname": Str(), "lookup_key": Str()},
)
async def update_price(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    price = await ctx.store.require(a["price"], "price", account=ctx.account, lock=True)
    for key in ("active", "nickname", "lookup_key"):
        if key in p:
            price.data[key] = p[key]
    if "metadata" in p:
        price.data["metadata"] = merge_metadata(price.data["metadata"], p["metadata"])
    ctx.store.save(price)
    ctx.emit("price.updated", price)
    return price


@api(
    "GET",
    "/v1/prices",
    {
        "product": Str(),
        "active": Bool(),
        "type": Enum("one_time", "recurring"),
        "currency": Str(),
        "lookup_keys": List(Str()),
        "created": Range(),
        "recurring": Any_(),
    },
    paged=True,
)
async def list_prices(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    keys = p.get("lookup_keys")
    keep = (lambda o: o.data["lookup_key"] in keys) if keys else None
    parent, match = p.get("product"), ("active", "type")
    return await paged(ctx, p, "price", "/v1/prices", parent=parent, keep=keep, match=match)
