"""Connect accounts (Express): create, retrieve, update, delete, list, capabilities.

A new account has everything past due and nothing enabled; the hosted onboarding page settles
it as ``verified`` (everything enabled, no requirements) or ``restricted`` (an identity
document past due, charges and payouts disabled). See ``onboard``.
"""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import PLATFORM, new_id
from escrowd.sandbox.stripe.params import Any_, Bool, Enum, Meta, Obj, Range, Str, merge_metadata
from escrowd.sandbox.stripe.render import paged
from escrowd.sandbox.stripe.routes import api, list_body
from escrowd.sandbox.stripe.store import Obj as Doc

KIND = "account"
_CAPABILITIES = ("card_payments", "transfers", "us_bank_account_ach_payments", "link_payments")
_COMMON_DUE = ["business_profile.mcc", "business_profile.url", "external_account"]
_TOS = ["tos_acceptance.date", "tos_acceptance.ip"]
_INDIVIDUAL_DUE = [
    "individual.address.city",
    "individual.address.line1",
    "individual.address.postal_code",
    "individual.address.state",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "individual.phone",
    "individual.ssn_last_4",
]
_COMPANY_DUE = [
    "company.address.city",
    "company.address.line1",
    "company.address.postal_code",
    "company.address.state",
    "company.name",
    "company.phone",
    "company.tax_id",
    "owners.first_name",
    "owners.last_name",
    "representative.first_name",
    "representative.last_name",
    "representative.dob.day",
    "representative.dob.month",
    "representative.dob.year",
    "representative.email",
    "representative.phone",
    "representative.ssn_last_4",
]


def initially_due(business_type: str | None) -> list[str]:
    own = {"individual": _INDIVIDUAL_DUE, "company": _COMPANY_DUE}.get(business_type or "", [])
    first = [] if business_type else ["business_type"]
    return sorted(first + _COMMON_DUE + own + _TOS)


def requirements(
    due: list[str], *, past_due: bool, disabled: str | None, deadline: int | None = None
) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": deadline,
        "currently_due": list(due),
        "disabled_reason": disabled,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due) if past_due else [],
        "pending_verification": [],
    }


def capability(acct: Doc, name: str, ctx: Ctx) -> dict[str, Any]:
    status = acct.data["capabilities"].get(name, "unrequested")
    req = acct.data["requirements"]
    due = req["currently_due"] if status != "active" else []
    return {
        "id": name,
        "object": "capability",
        "account": acct.id,
        "future_requirements": requirements([], past_due=False, disabled=None),
        "requested": name in acct.data["capabilities"],
        "requested_at": acct.data["created"],
        "requirements": requirements(
            due, past_due=bool(req["past_due"]), disabled=req["disabled_reason"]
        ),
        "status": status,
    }


_BUSINESS_PROFILE = Obj(
    {
        k: Str(emptyable=True)
        for k in (
            "mcc",
            "name",
            "product_description",
            "support_email",
            "support_phone",
            "support_url",
            "url",
        )
    }
    | {"support_address": Any_(), "monthly_estimated_revenue": Any_()}
)
_CAPS = Obj({name: Obj({"requested": Bool()}) for name in _CAPABILITIES})


@api(
    "POST",
    "/v1/accounts",
    {
        "type": Enum("custom", "express", "standard"),
        "country": Str(),
        "email": Str(),
        "business_type": Enum("company", "government_entity", "individual", "non_profit"),
        "business_profile": _BUSINESS_PROFILE,
        "capabilities": _CAPS,
        "metadata": Meta(),
        "default_currency": Str(),
        "company": Any_(),
        "individual": Any_(),
        "tos_acceptance": Any_(),
        "settings": Any_(),
        "controller": Any_(),
        "external_account": Str(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> Doc:
    if not ctx.on_platform:
        raise InvalidRequestError("Connected accounts cannot create other accounts.")
    kind = p.get("type") or "express"
    if kind != "express":
        raise InvalidRequestError(
            f"The sandbox emulates Express accounts only (type=express), not {kind}.",
            param="type",
        )
    requested = [n for n, v in (p.get("capabilities") or {}).items() if v.get("requested")]
    if not requested:
        requested = ["transfers"]
    btype = p.get("business_type")
    due = initially_due(btype)
    profile = {
        "mcc": None,
        "monthly_estimated_revenue": {"amount": 0, "currency": "usd"},
        "name": None,
        "product_description": None,
        "support_address": None,
        "support_email": None,
        "support_phone": None,
        "support_url": None,
        "url": None,
    }
    profile.update({k: v for k, v in (p.get("business_profile") or {}).items() if k in profile})
    acct_id = new_id("acct")
    data = {
        "id": acct_id,
        "object": "account",
        "business_profile": profile,
        "business_type": btype,
        "capabilities": dict.fromkeys(requested, "inactive"),
        "charges_enabled": False,
        "controller": {"is_controller": True, "type": "application"},
        "country": (p.get("country") or "US").upper(),
        "created": ctx.now,
        "default_currency": (p.get("default_currency") or "usd").lower(),
        "details_submitted": False,
        "email": p.get("email"),
        "external_accounts": list_body(f"/v1/accounts/{acct_id}/external_accounts", [], False),
        "future_requirements": requirements([], past_due=False, disabled=None),
        "metadata": merge_metadata({}, p.get("metadata")),
        "payouts_enabled": False,
        "requirements": requirements(due, past_due=True, disabled="requirements.past_due"),
        "settings": None,
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "express",
    }
    acct = ctx.store.create(KIND, data, account=PLATFORM)
    if p.get("external_account"):
        from escrowd.sandbox.stripe.resources.bank_accounts import add_bank_account

        add_bank_account(ctx, acct, token=p["external_account"])
    return acct


def onboard(ctx: Ctx, acct: Doc, outcome: str) -> None:
    """The hosted onboarding page's choice: ``verified`` or ``restricted``."""
    d = acct.data
    previous = {
        k: d[k]
        for k in (
            "capabilities",
            "charges_enabled",
            "payouts_enabled",
            "details_submitted",
            "requirements",
        )
    }
    before = dict(d["capabilities"])
    d["details_submitted"] = True
    d["tos_acceptance"] = {"date": ctx.now, "ip": "127.0.0.1", "user_agent": "escrowd-sandbox"}
    if outcome == "verified":
        d["requirements"] = requirements([], past_due=False, disabled=None)
        d["capabilities"] = dict.fromkeys(d["capabilities"], "active")
        d["charges_enabled"] = d["payouts_enabled"] = True
    else:
        doc = (
            "company.verification.document"
            if d["business_type"] == "company"
            else ("individual.verification.document")
        )
        d["requirements"] = requirements([doc], past_due=True, disabled="requirements.past_due")
        d["capabilities"] = dict.fromkeys(d["capabilities"], "inactive")
        d["charges_enabled"] = d["payouts_enabled"] = False
    ctx.store.save(acct)
    ctx.emit("account.updated", acct, previous=previous, account=acct.id)
    for name, status in d["capabilities"].items():
        if before.get(name) != status:
            ctx.emit(
                "capability.updated",
                capability(acct, name, ctx),
                previous={"status": before.get(name)},
                account=acct.id,
            )


@api("GET", "/v1/account")
async def platform(ctx: Ctx, _: dict[str, Any], __: dict[str, str]) -> Doc | dict[str, Any]:
    if not ctx.on_platform:
        return await ctx.store.require(ctx.account, KIND)
    return {
        "id": PLATFORM,
        "object": "account",
        "business_profile": {"name": "escrowd sandbox platform", "url": None},
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": "US",
        "created": 0,
        "default_currency": "usd",
        "details_submitted": True,
        "email": None,
        "metadata": {},
        "payouts_enabled": True,
        "requirements": requirements([], past_due=False, disabled=None),
        "settings": None,
        "type": "standard",
    }


#: The platform's Connect application, named by ``account.application.*`` events.
APPLICATION = {"id": "ca_1EscrowdSandboxApplicatn", "object": "application", "name": "escrowd"}


def revoked(acct_id: str) -> InvalidRequestError:
    """What Stripe answers the platform about an account that disconnected from it."""
    return InvalidRequestError(
        f"The provided key 'sk_test_***' does not have access to account '{acct_id}' (or that "
        "account does not exist). Application access may have been revoked.",
        code="account_invalid",
        status=403,
    )


def deauthorize(ctx: Ctx, acct: Doc) -> bool:
    """The account's owner disconnects it from the platform (the hosted dashboard's button):
    the platform loses access to it and gets ``account.application.deauthorized``."""
    if acct.private.get("deauthorized"):
        return False
    acct.private["deauthorized"] = ctx.now
    ctx.store.save(acct)
    ctx.emit("account.application.deauthorized", dict(APPLICATION), account=acct.id)
    return True


@api("GET", "/v1/accounts/{account}")
async def retrieve(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> Doc:
    acct = await ctx.store.require(a["account"], KIND, param="account")
    if acct.private.get("deauthorized"):
        raise revoked(acct.id)
    return acct


@api(
    "POST",
    "/v1/accounts/{account}",
    {
        "email": Str(emptyable=True),
        "business_profile": _BUSINESS_PROFILE,
        "business_type": Enum("company", "government_entity", "individual", "non_profit"),
        "capabilities": _CAPS,
        "metadata": Meta(),
        "default_currency": Str(),
        "company": Any_(),
        "individual": Any_(),
        "settings": Any_(),
        "tos_acceptance": Any_(),
        "external_account": Str(),
    },
)
async def update(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    acct = await ctx.store.require(a["account"], KIND, lock=True, param="account")
    d = acct.data
    previous: dict[str, Any] = {}
    if "email" in p:
        previous["email"] = d["email"]
        d["email"] = p["email"]
    if "metadata" in p:
        previous["metadata"] = d["metadata"]
        d["metadata"] = merge_metadata(d["metadata"], p["metadata"])
    if p.get("business_profile"):
        previous["business_profile"] = d["business_profile"]
        d["business_profile"] = {**d["business_profile"], **p["business_profile"]}
    if "business_type" in p and not d["details_submitted"]:
        previous["business_type"] = d["business_type"]
        d["business_type"] = p["business_type"]
        due = initially_due(p["business_type"])
        d["requirements"] = requirements(due, past_due=True, disabled="requirements.past_due")
    for name, v in (p.get("capabilities") or {}).items():
        if v.get("requested") and name not in d["capabilities"]:
            previous.setdefault("capabilities", dict(d["capabilities"]))
            verified = d["charges_enabled"] and d["payouts_enabled"]
            d["capabilities"] = {**d["capabilities"], name: "active" if verified else "inactive"}
    if p.get("external_account"):
        from escrowd.sandbox.stripe.resources.bank_accounts import add_bank_account

        add_bank_account(ctx, acct, token=p["external_account"])
    ctx.store.save(acct)
    ctx.emit("account.updated", acct, previous=previous, account=acct.id)
    return acct


@api("DELETE", "/v1/accounts/{account}")
async def delete(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(a["account"], KIND, lock=True, param="account")
    acct.data = {"id": acct.id, "object": "account", "deleted": True}
    acct.type = "deleted_account"
    ctx.store.save(acct)
    return acct.data


@api("GET", "/v1/accounts", {"created": Range()}, paged=True)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    return await paged(ctx, p, KIND, "/v1/accounts", account=PLATFORM)


@api("GET", "/v1/accounts/{account}/capabilities")
async def capabilities(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(a["account"], KIND, param="account")
    url = f"/v1/accounts/{acct.id}/capabilities"
    items = [capability(acct, n, ctx) for n in sorted(acct.data["capabilities"])]
    return list_body(url, items, False)


@api("GET", "/v1/accounts/{account}/capabilities/{capability}")
async def capability_get(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(a["account"], KIND, param="account")
    name = a["capability"]
    if name not in acct.data["capabilities"]:
        raise InvalidRequestError(
            f"No such capability: '{name}'",
            code="resource_missing",
            param="capability",
            status=404,
        )
    return capability(acct, name, ctx)


def can_receive_transfers(acct: Doc) -> bool:
    return bool(acct.data.get("capabilities", {}).get("transfers") == "active")
