"""Account links (hosted onboarding, single use, 300 s) and login links (hosted dashboard)."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import PLATFORM, token
from escrowd.sandbox.stripe.params import Any_, Enum, Str
from escrowd.sandbox.stripe.routes import api

LINK_SECONDS = 300


@api(
    "POST",
    "/v1/account_links",
    {
        "account": Str(required=True),
        "type": Enum("account_onboarding", "account_update", required=True),
        "refresh_url": Str(),
        "return_url": Str(),
        "collect": Enum("currently_due", "eventually_due"),
        "collection_options": Any_(),
    },
)
async def create_link(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(p["account"], "account", param="account")
    for key in ("refresh_url", "return_url"):
        if not p.get(key):
            raise InvalidRequestError(
                f"Missing required param: {key}.", code="parameter_missing", param=key
            )
    if p["type"] == "account_update" and not acct.data["details_submitted"]:
        raise InvalidRequestError(
            "account_update links are for accounts that finished onboarding; use "
            "type=account_onboarding.",
            param="type",
        )
    secret = token(32)
    body = {
        "object": "account_link",
        "created": ctx.now,
        "expires_at": ctx.now + LINK_SECONDS,
        "url": f"{ctx.base_url}/connect/onboarding/{secret}",
    }
    ctx.store.create(
        "account_link",
        {"id": f"link_{secret}", **body},
        account=PLATFORM,
        parent=acct.id,
        private={
            "account": acct.id,
            "type": p["type"],
            "refresh_url": p["refresh_url"],
            "return_url": p["return_url"],
            "state": "new",
        },
    )
    return body


@api("POST", "/v1/accounts/{account}/login_links")
async def create_login_link(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(a["account"], "account", param="account")
    if acct.data["type"] != "express":
        raise InvalidRequestError(
            "Login links can only be created for Express accounts.", param="account"
        )
    secret = token(32)
    body = {
        "object": "login_link",
        "created": ctx.now,
        "url": f"{ctx.base_url}/connect/dashboard/{secret}",
    }
    ctx.store.create(
        "login_link",
        {"id": f"login_{secret}", **body},
        account=PLATFORM,
        parent=acct.id,
        private={"account": acct.id},
    )
    return body
