"""External bank accounts of connected accounts, with Stripe's magic test account numbers.

Payouts to 000123456789 are paid; the others fail on arrival with the code shown (Stripe's
test numbers, routing 110000000). Tokens ``btok_us_verified…`` name the same accounts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.errors import InvalidRequestError
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Bool, Enum, Meta, Obj, Str, merge_metadata
from escrowd.sandbox.stripe.routes import api, list_body
from escrowd.sandbox.stripe.store import Obj as Doc

SUCCESS = "000123456789"
#: account number → (failure_code, failure_message) on payout.
FAILURES: dict[str, tuple[str, str]] = {
    "000111111116": (
        "no_account",
        "The bank account details on file are probably incorrect. No bank account could be "
        "located with those details.",
    ),
    "000111111113": ("account_closed", "The bank account has been closed."),
    "000222222227": ("insufficient_funds", "The bank account has insufficient funds."),
    "000333333335": (
        "debit_not_authorized",
        "Debit transactions are not approved on the bank account.",
    ),
    "000444444440": (
        "invalid_currency",
        "The bank was unable to process this payout because of its currency.",
    ),
}
TOKENS = {
    "btok_us_verified": SUCCESS,
    "btok_us_verified_noAccount": "000111111116",
    "btok_us_verified_accountClosed": "000111111113",
    "btok_us_verified_insufficientFunds": "000222222227",
    "btok_us_verified_debitNotAuthorized": "000333333335",
    "btok_us_verified_invalidCurrency": "000444444440",
}
ROUTING = "110000000"


def _empty_requirements() -> dict[str, Any]:
    return {"currently_due": [], "errors": [], "past_due": [], "pending_verification": []}


def add_bank_account(
    ctx: Ctx,
    acct: Doc,
    *,
    token: str | None = None,
    number: str | None = None,
    currency: str = "usd",
    holder: str | None = None,
) -> Doc:
    if token is not None:
        number = TOKENS.get(token)
        if number is None:
            raise InvalidRequestError(
                f"No such token: '{token}'", code="resource_missing", param="external_account"
            )
    if not number or not number.isdigit() or not 4 <= len(number) <= 17:
        raise InvalidRequestError(
            "The bank account number must be 4 to 17 digits (use 000123456789 for a payout "
            "that succeeds).",
            param="bank_account[account_number]",
        )
    accounts = acct.data["external_accounts"]
    first = not any(a["currency"] == currency for a in accounts["data"])
    data = {
        "id": new_id("ba"),
        "object": "bank_account",
        "account": acct.id,
        "account_holder_name": holder,
        "account_holder_type": acct.data.get("business_type") or "individual",
        "account_type": None,
        "available_payout_methods": ["standard", "instant"],
        "bank_name": "STRIPE TEST BANK",
        "country": acct.data["country"],
        "currency": currency,
        "default_for_currency": first,
        "fingerprint": hashlib.sha256(number.encode()).hexdigest()[:16],
        "future_requirements": _empty_requirements(),
        "last4": number[-4:],
        "metadata": {},
        "requirements": _empty_requirements(),
        "routing_number": ROUTING,
        "status": "new",
    }
    bank = ctx.store.create(
        "bank_account", data, account=acct.id, parent=acct.id, private={"number": number}
    )
    acct.data["external_accounts"] = list_body(accounts["url"], [*accounts["data"], data], False)
    ctx.store.save(acct)
    ctx.emit("account.external_account.created", bank, account=acct.id)
    return bank


def default_for(acct: Doc, currency: str) -> str | None:
    for a in acct.data["external_accounts"]["data"]:
        if a["currency"] == currency and a.get("default_for_currency"):
            return str(a["id"])
    return None


@api(
    "POST",
    "/v1/accounts/{account}/external_accounts",
    {
        "external_account": Str(),
        "bank_account": Obj(
            {
                "account_number": Str(required=True),
                "country": Str(required=True),
                "currency": Str(),
                "routing_number": Str(),
                "account_holder_name": Str(),
                "account_holder_type": Enum("company", "individual"),
                "object": Enum("bank_account"),
            }
        ),
        "default_for_currency": Bool(),
        "metadata": Meta(),
    },
)
async def create(ctx: Ctx, p: dict[str, Any], a: dict[str, str]) -> Doc:
    acct = await ctx.store.require(a["account"], "account", lock=True, param="account")
    given = p.get("bank_account")
    if given:
        bank = add_bank_account(
            ctx,
            acct,
            number=given["account_number"],
            currency=(given.get("currency") or "usd").lower(),
            holder=given.get("account_holder_name"),
        )
    elif p.get("external_account"):
        bank = add_bank_account(ctx, acct, token=p["external_account"])
    else:
        raise InvalidRequestError(
            "Missing required param: external_account.",
            code="parameter_missing",
            param="external_account",
        )
    if "metadata" in p:
        bank.data["metadata"] = merge_metadata({}, p["metadata"])
    return bank


@api("GET", "/v1/accounts/{account}/external_accounts", {"object": Enum("bank_account", "card")})
async def list_(ctx: Ctx, _: dict[str, Any], a: dict[str, str]) -> dict[str, Any]:
    acct = await ctx.store.require(a["account"], "account", param="account")
    body: dict[str, Any] = acct.data["external_accounts"]
    return body
