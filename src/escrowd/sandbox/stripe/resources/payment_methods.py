"""PaymentMethods: made from test tokens (``pm_card_visa``, ``card[token]=tok_visa``) or by the
hosted card form; retrieve, update, attach (declining cards refuse, as on Stripe), detach, list.

Raw card numbers are refused on the API, as Stripe refuses them by default: the hosted card
form is the only place a number is typed.
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.cards import CARDS, TestCard, from_shortcut
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Enum, Int, Meta, Obj, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.resources.common import billing_details
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

RAW_CARD_REFUSED = (
    "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you "
    "use test tokens that map to the test card you are using, see "
    "https://stripe.com/docs/testing. In escrowd's sandbox, type card numbers in the hosted "
    "card form (/sandbox/stripe/checkout/card-form) instead."
)
_ADDRESS = Obj({k: Str() for k in ("city", "country", "line1", "line2", "postal_code", "state")})
BILLING = Obj(
    {
        "address": _ADDRESS,
        "email": Str(emptyable=True),
        "name": Str(emptyable=True),
        "phone": Str(emptyable=True),
    }
)
_TYPES = Enum("card", "us_bank_account", "sepa_debit", "link", "paypal")


def card_of(pm: Doc) -> TestCard:
    return CARDS[pm.private["card"]]


def build(
    ctx: Ctx,
    card: TestCard,
    *,
    exp_month: int = 12,
    exp_year: int | None = None,
    billing: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    pm_id = new_id("pm")
    data = {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(billing),
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked",
            },
            "country": "US",
            "display_brand": card.brand,
            "exp_month": exp_month,
            "exp_year": exp_year or 2034,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now,
        "customer": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
    }
    return ctx.store.create(
        "payment_method", data, account=ctx.account, private={"card": card.number}
    )


async def resolve(ctx: Ctx, value: Any, *, param: str = "payment_method") -> Doc:
    """A PaymentMethod by id, or a new one from a ``pm_card_…`` test token."""
    card = from_shortcut(value) if isinstance(value, str) else None
    if card is not None and value.startswith("pm_card_"):
        return build(ctx, card)
    return await ctx.store.require(value, "payment_method", account=ctx.account, param=param)


def check_usable(pm: Doc, *, param: str = "payment_method") -> None:
    if pm.private.get("consumed"):
        raise InvalidRequestError(
            f"The provided PaymentMethod ({pm.id}) was previously used with a PaymentIntent "
            "without Customer attachment, shared with a connected account without Customer "
            "attachment, or was detached from a Customer. It may not be used again. To use a "
            "PaymentMethod multiple times, you must attach it to a Customer first.",
            code="payment_method_unexpected_state",
            param=param,
        )


async def attach_to(ctx: Ctx, value: Any, cus: Doc, *, param: str = "payment_method") -> Doc:
    """Attach (Stripe checks the card: declining cards refuse with a 402)."""
    pm = await resolve(ctx, value, param=param)
    check_usable(pm, param=param)
    owner = pm.data["customer"]
    if owner == cus.id:
        return pm
    if owner is not None:
        raise InvalidRequestError(
            f"The payment method you provided has already been attached to a customer ({owner}).",
            code="payment_method_unexpected_state",
            param=param,
        )
    card = card_of(pm)
    if card.declines_on_attach and card.decline is not None:
        err = card.decline.error()
        err.commit = False  # nothing changed: Stripe keeps no trace of a refused attach
        raise err
    pm.data["customer"] = cus.id
    pm.parent = cus.id
    ctx.store.save(pm)
    ctx.emit("payment_method.attached", pm, previous={"customer": None})
    return pm


@api(
    "POST",
    "/v1/payment_methods",
    {
        "type": _TYPES,
        "card": Obj(
            {"token": Str(), "number": Str(), "exp_month": Int(), "exp_year": Int(), "cvc": Str()}
        ),
        "billing_details": BILLING,
        "metadata": Meta(),
        "customer": Str(),
        "payment_method": Str(),
        "allow_redisplay": Enum("always", "limited", "unspecified"),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    card_p = p.get("card") or {}
    if "number" in card_p:
        raise InvalidRequestError(
            RAW_CARD_REFUSED, code="card_number_refused", param="card[number]"
        )
    if p.get("payment_method"):
        raise InvalidRequestError(
            "Cloning PaymentMethods to connected accounts is not emulated by the sandbox.",
            param="payment_method",
        )
    if p.get("type") is None:
        raise InvalidRequestError(
            "Missing required param: type.", code="parameter_missing", param="type"
        )
    if p["type"] != "card":
        raise InvalidRequestError(
            f"The sandbox emulates card payment methods only, not {p['type']}.", param="type"
        )
    tok = card_p.get("token")
    card = from_shortcut(tok) if tok else None
    if card is None:
        raise InvalidRequestError(
            f"No such token: '{tok}'" if tok else "Missing required param: card[token].",
            code="resource_missing" if tok else "parameter_missing",
            param="card[token]" if tok else "card",
        )
    pm = build(
        ctx,
        card,
        billing=p.get("billing_details"),
        metadata=merge_metadata({}, p.get("metadata")),
    )
    return pm


retrievable("/v1/payment_methods/{payment_method}", "payment_method")


@api(
    "POST",
    "/v1/payment_methods/{payment_method}",
    {
        "billing_details": BILLING,
        "metadata": Meta(),
        "card": Obj({"exp_month": Int(min=1, max=12), "exp_year": Int()}),
        "allow_redisplay": Enum("always", "limited", "unspecified"),
    },
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    pm = await ctx.store.require(
        a["payment_method"], "payment_method", account=ctx.account, lock=True
    )
    previous: dict[str, Any] = {}
    if "metadata" in p:
        previous["metadata"] = pm.data["metadata"]
        pm.data["metadata"] = merge_metadata(pm.data["metadata"] or {}, p["metadata"])
    if p.get("billing_details") is not None:
        previous["billing_details"] = pm.data["billing_details"]
        merged = {**pm.data["billing_details"], **p["billing_details"]}
        pm.data["billing_details"] = billing_details(merged)
    if p.get("card"):
        previous["card"] = pm.data["card"]
        pm.data["card"] = {**pm.data["card"], **p["card"]}
    if "allow_redisplay" in p:
        pm.data["allow_redisplay"] = p["allow_redisplay"]
    ctx.store.save(pm)
    ctx.emit("payment_method.updated", pm, previous=previous)
    return pm


@api("POST", "/v1/payment_methods/{payment_method}/attach", {"customer": Str(required=True)})
async def attach(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    cus = await ctx.store.require(p["customer"], "customer", account=ctx.account, param="customer")
    return await attach_to(ctx, a["payment_method"], cus, param="payment_method")


@api("POST", "/v1/payment_methods/{payment_method}/detach")
async def detach(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    pm = await ctx.store.require(
        a["payment_method"], "payment_method", account=ctx.account, lock=True
    )
    owner = pm.data["customer"]
    if owner is None:
        raise InvalidRequestError(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    pm.data["customer"] = None
    pm.parent = None
    pm.private["consumed"] = True
    ctx.store.save(pm)
    cus = await ctx.store.get(owner, type="customer", lock=True)
    if (
        cus is not None
        and cus.data.get("invoice_settings", {}).get("default_payment_method") == pm.id
    ):
        cus.data["invoice_settings"] = {
            **cus.data["invoice_settings"],
            "default_payment_method": None,
        }
        ctx.store.save(cus)
    ctx.emit("payment_method.detached", pm, previous={"customer": owner})
    return pm


@api("GET", "/v1/payment_methods", {"customer": Str(), "type": _TYPES}, paged=True)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await _list(ctx, p, p.get("customer"), "/v1/payment_methods")


@api("GET", "/v1/customers/{customer}/payment_methods", {"type": _TYPES}, paged=True)
async def list_for_customer(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    cus = await ctx.store.require(a["customer"], "customer", account=ctx.account)
    return await _list(ctx, p, cus.id, f"/v1/customers/{cus.id}/payment_methods")


async def _list(ctx: Ctx, p: dict[str, Any], customer: str | None, url: str) -> dict[str, Any]:
    kind = p.get("type")
    keep = (lambda o: o.data["type"] == kind) if kind and kind != "card" else None
    if customer is None:
        # Stripe lists only attached methods; with no customer the sandbox lists none.
        return {"object": "list", "data": [], "has_more": False, "url": url}
    return await paged(ctx, p, "payment_method", url, parent=customer, keep=keep)
