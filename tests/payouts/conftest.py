"""Fixtures for payouts: the escrow tests' app and drivers, a payee paid by a released escrow,
and the sandbox's clock.

- ``await earned(ctx, amount)`` → a fresh verified payee (a Person) whose ``amount`` was
  released to them (no platform fee): that much is available. ``bank=`` onboards with one of
  the sandbox's bank accounts (``FAILING_BANK``: its payouts fail).
- ``await request_payout(ctx, who, amount, status=200, **body)``, ``await review(ctx, id,
  "approve" | "reject", …)`` with a platform API key.
- ``await days_pass(ctx, n)``: escrowd's clock and the sandbox's move ``n`` days; what came
  due at the sandbox runs and its webhooks are processed.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from escrowd.sandbox.stripe.due import run_due
from tests.accounts.conftest import create_account, local, onboarding_url
from tests.balances.conftest import balance_of
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    funded,
    payer,
    person,
    post,
    sandbox,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import make_user

#: Stripe's test bank account whose payouts fail with ``no_account``.
FAILING_BANK = "000111111116"


async def onboarded_payee(ctx: Ctx, *, bank: str | None = None) -> Person:
    worker = person(ctx, await make_user(ctx.container, role="worker"))
    acct = await create_account(ctx.client, worker)
    url = local(await onboarding_url(ctx.client, worker, acct["id"]))
    page = await ctx.client.get(url)
    found = re.search(r"name=session value='([^']+)'", page.text)
    assert found, page.text
    form = {"session": found.group(1), "outcome": "verified"}
    if bank is not None:
        form["bank"] = bank
    done = await ctx.client.post(url, data=form)
    assert done.status_code == 303, done.text
    await settle(ctx.container)
    return worker


async def earned(ctx: Ctx, amount: int, *, bank: str | None = None) -> Person:
    worker = await onboarded_payee(ctx, bank=bank)
    who = await payer(ctx)
    escrow = await funded(ctx, who, [(worker.id, amount)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    await settle(ctx.container)
    assert (await balance_of(ctx, worker))["available"] == {"usd": amount}
    return worker


async def request_payout(
    ctx: Ctx, who: Person, amount: int, status: int = 200, **body: Any
) -> dict[str, Any]:
    return await post(
        ctx, who, "/v1/payouts", {"amount": amount, "currency": "usd", **body}, status=status
    )


async def review(
    ctx: Ctx, payout_id: str, action: str, body: dict[str, Any] | None = None, status: int = 200
) -> dict[str, Any]:
    admin = await api_key_headers(ctx)
    r = await ctx.client.post(
        f"/v1/payouts/{payout_id}/{action}",
        json=body or {},
        headers={**admin, "Idempotency-Key": f"test-{payout_id}-{action}-{status}"},
    )
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def days_pass(ctx: Ctx, days: int) -> None:
    clock = ctx.container.clock
    clock.advance(timedelta(days=days))  # type: ignore[attr-defined]
    await run_due(ctx.container)
    await settle(ctx.container)
