"""Balance transactions (the 2.9 % + 30¢ fee lives here) and ``GET /v1/balance`` per account.

Every money movement writes one balance transaction and one row in ``sandbox_stripe_balance``
(account, currency, net, available_on); the balance is their sum, split by whether
``available_on`` has passed on the sandbox clock. Card funds become available two days after
the charge (at once for 4000 0000 0000 0077).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from escrowd.money import fee as fee_of
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.ids import new_id
from escrowd.sandbox.stripe.params import Any_, Enum, Range, Str
from escrowd.sandbox.stripe.render import HOOKS, paged
from escrowd.sandbox.stripe.resources.common import DAY
from escrowd.sandbox.stripe.routes import api, retrievable
from escrowd.sandbox.stripe.store import Obj as Doc

#: Stripe's standard US card pricing.
CARD_RATE_BPS = Decimal(290)
CARD_FIXED = 30
#: How long card funds stay pending.
PENDING_DAYS = 2
_CATEGORIES = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "payout": "payout",
    "payout_failure": "payout_reversal",
    "application_fee": "platform_earning",
    "application_fee_refund": "platform_earning_refund",
    "adjustment": "dispute",
}


def card_fee(amount: int) -> int:
    """2.9 % + 30¢, rounded half up once (escrowd.money.fee)."""
    return fee_of(amount, CARD_RATE_BPS, CARD_FIXED)


def record(
    ctx: Ctx,
    *,
    account: str,
    amount: int,
    currency: str,
    type: str,
    source: str,
    fee: int = 0,
    available_on: int | None = None,
    description: str | None = None,
    fee_description: str = "Stripe processing fees",
) -> Doc:
    txn_id = new_id("txn")
    available = ctx.now if available_on is None else available_on
    data = {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available,
        "created": ctx.now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": _CATEGORIES.get(type, type),
        "source": source,
        "status": "available" if available <= ctx.now else "pending",
        "type": type,
    }
    ctx.store.add_balance(
        txn_id, account=account, currency=currency, net=amount - fee, available_on=available
    )
    return ctx.store.create("balance_transaction", data, account=account, parent=source)


def card_funds_available_on(ctx: Ctx, immediately: bool) -> int:
    return ctx.now if immediately else ctx.now + PENDING_DAYS * DAY


def _status(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    status = "available" if data["available_on"] <= ctx.now else "pending"
    return data if data["status"] == status else {**data, "status": status}


HOOKS["balance_transaction"] = _status


async def balance_of(ctx: Ctx, account: str) -> dict[str, Any]:
    sums = await ctx.store.balances(account, ctx.now)
    sums.setdefault("usd", (0, 0))

    def amounts(i: int) -> list[dict[str, Any]]:
        return [
            {"amount": v[i], "currency": cur, "source_types": {"card": v[i]}}
            for cur, v in sorted(sums.items())
        ]

    return {"object": "balance", "available": amounts(0), "livemode": False, "pending": amounts(1)}


@api("GET", "/v1/balance")
async def balance(ctx: Ctx, _: dict[str, Any], __: dict[str, str]) -> dict[str, Any]:
    return await balance_of(ctx, ctx.account)


retrievable("/v1/balance_transactions/{id}", "balance_transaction")


@api(
    "GET",
    "/v1/balance_transactions",
    {
        "source": Str(),
        "type": Str(),
        "currency": Str(),
        "payout": Any_(),
        "created": Range(),
        "status": Enum("available", "pending"),
    },
    paged=True,
)
async def list_(ctx: Ctx, p: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
    url, parent = "/v1/balance_transactions", p.get("source")
    match = ("type", "currency")
    return await paged(ctx, p, "balance_transaction", url, parent=parent, match=match)
