"""Fixtures for subscriptions: the escrow tests' app and drivers, plus

- ``await subscribe(ctx, who, plan, status=200, **body)`` → the created subscription (with
  ``client_secret``), sent with a fresh Idempotency-Key.
- ``await confirm_first_payment(ctx, created)``: the payer's browser (Stripe.js) confirms the
  first invoice's payment with the client secret, following 3-D Secure when asked; then the
  sandbox's webhooks are delivered and processed.
- ``await active(ctx, who, plan)``: subscribed and paid for.
- ``await use(ctx, who, key, status=200, **body)``: POST /v1/usage for published jobs.
- ``await sub_of(ctx, who, id)``, ``await days_pass(ctx, n)``, ``await stripe(ctx, method,
  path, **form)`` (the sandbox's own API, as the provider's dashboard would act).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from ulid import ULID

from escrowd.ledger.models import LedgerTransfer
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.subscriptions.models import Subscription
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    keyed,
    payer,
    person,
    sandbox,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.payouts.conftest import days_pass as days_pass

JOBS = "published_jobs_per_month"


@pytest.fixture(autouse=True)
async def _end_subscriptions_after_the_test(ctx: Ctx) -> AsyncIterator[None]:
    """The databases are shared: a subscription left running would renew (and book revenue)
    whenever a later test moves its clock years ahead. End them at the provider now."""
    yield
    async with ctx.container.db.transaction() as s:
        live = (
            await s.scalars(
                select(Subscription.provider_subscription_id).where(
                    Subscription.live_owner.is_not(None),
                    Subscription.provider_subscription_id.is_not(None),
                )
            )
        ).all()
    for provider_id in live:
        r = await ctx.client.delete(
            f"/sandbox/stripe/v1/subscriptions/{provider_id}",
            headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
        )
        assert r.status_code in (200, 404), r.text
    await settle(ctx.container)


RETURN_URL = "https://market.test/billing/done"


async def subscribe(
    ctx: Ctx, who: Person, plan: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    payload = {"plan": plan, "payment_method": "pm_card_visa", **body}
    r = await ctx.client.post("/v1/subscriptions", json=payload, headers=keyed(who.headers))
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def stripe(ctx: Ctx, method: str, path: str, **form: str) -> dict[str, Any]:
    r = await ctx.client.request(
        method,
        f"/sandbox/stripe/v1/{path}",
        data=form or None,
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def confirm_first_payment(ctx: Ctx, created: dict[str, Any]) -> dict[str, Any]:
    secret = created["client_secret"]
    assert secret, created
    intent_id = secret.split("_secret_")[0]
    pi = await stripe(
        ctx,
        "POST",
        f"payment_intents/{intent_id}/confirm",
        client_secret=secret,
        return_url=RETURN_URL,
    )
    if pi["status"] == "requires_action":
        page = httpx.URL(pi["next_action"]["redirect_to_url"]["url"])
        done = await ctx.client.post(
            page.raw_path.decode(), data={"token": page.params["token"], "outcome": "complete"}
        )
        assert done.status_code == 303, done.text
    await settle(ctx.container)
    return pi


async def sub_of(ctx: Ctx, who: Person, sub_id: str) -> dict[str, Any]:
    r = await ctx.client.get(f"/v1/subscriptions/{sub_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def active(ctx: Ctx, who: Person, plan: str = "pro", **body: Any) -> dict[str, Any]:
    created = await subscribe(ctx, who, plan, **body)
    await confirm_first_payment(ctx, created)
    after = await sub_of(ctx, who, created["id"])
    assert after["status"] == "active", after
    return after


async def use(
    ctx: Ctx, who: Person | dict[str, str], key: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    headers = who if isinstance(who, dict) else who.headers
    r = await ctx.client.post(
        "/v1/usage", json={"limit": JOBS, "key": key, **body}, headers=headers
    )
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def check(ctx: Ctx, who: Person, **body: Any) -> dict[str, Any]:
    r = await ctx.client.post("/v1/limits/check", json={"limit": JOBS, **body}, headers=who.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def revenue_transfers(ctx: Ctx, sub_id: str) -> dict[str, int]:
    """The subscription's ledger transfers: id → amount."""
    async with ctx.container.db.transaction() as s:
        rows = await s.execute(
            select(LedgerTransfer.id, LedgerTransfer.amount, LedgerTransfer.category).where(
                LedgerTransfer.reference == sub_id
            )
        )
        found = {str(i): int(a) for i, a, c in rows if c == "subscription"}
    return found


def fresh_code(stem: str) -> str:
    return f"{stem}_{str(ULID()).lower()[-10:]}"
