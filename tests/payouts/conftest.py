"""Fixtures for payouts: the escrow tests' app and drivers, a payee paid by a released escrow,
and the sandbox's clock.

- ``await earned(ctx, amount)`` → a fresh verified payee (a Person) whose ``amount`` was
  released to them (no platform fee): that much is available. ``bank=`` onboards with one of
  the sandbox's bank accounts (``FAILING_BANK``: its payouts fail).
- ``await request_payout(ctx, who, amount, status=200, **body)``, ``await review(ctx, id,
  "approve" | "reject", …)`` with a platform API key.
- ``await days_pass(ctx, n)``: escrowd's clock and the sandbox's move ``n`` days; what came
  due at the sandbox runs and its webhooks are processed.
- ``destination`` (a fixture): where the test's payouts go — ``stripe`` (the payee's verified
  connected account, then their bank) or ``paypal`` (the payee's PayPal email, from the
  platform's PayPal balance, earned through a PayPal escrow); each test that takes it runs on
  both, through the same requests, ledger transfers and admin review (``Destination``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from escrowd.payouts.tasks import sync_payouts
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
    sweep,
)
from tests.escrows.conftest import ctx as ctx
from tests.escrows.rails import RAILS
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


async def earned_on_paypal(ctx: Ctx, amount: int, *, email: str | None = None) -> Person:
    """A payee with a PayPal email and no connected account, ``amount`` released to them by
    a PayPal escrow (no platform fee): that much is available."""
    worker = person(ctx, await make_user(ctx.container, role="worker"))
    saved = await ctx.client.post(
        "/v1/payout_destination",
        json={"paypal_email": email or f"{worker.id.lower()}@example.com"},
        headers=worker.headers,
    )
    assert saved.status_code == 200, saved.text
    who = await payer(ctx)
    escrow = await RAILS["paypal"].funded(
        ctx, who, [(worker.id, amount)], fee_policy={"rate_bps": 0}
    )
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    await settle(ctx.container)
    assert (await balance_of(ctx, worker))["available"] == {"usd": amount}
    return worker


@dataclass(frozen=True)
class Destination:
    """Where a payout goes, and how the provider answers one."""

    #: The payout's provider.
    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def body(self) -> dict[str, Any]:
        """What a payout request adds to say where it goes (Stripe is the default)."""
        return {"provider": "paypal"} if self.name == "paypal" else {}

    async def earned(self, ctx: Ctx, amount: int, *, failing: bool = False) -> Person:
        """A payee with ``amount`` available; ``failing``: their payouts fail later (Stripe:
        a bank account that refuses them; PayPal: an email that never claims the money, which
        PayPal returns after 30 days)."""
        if self.name == "paypal":
            email = "payee+unclaimed@example.com" if failing else None
            return await earned_on_paypal(ctx, amount, email=email)
        return await earned(ctx, amount, bank=FAILING_BANK if failing else None)

    async def ready(self, ctx: Ctx) -> None:
        """Until the provider can pay it: a Stripe transfer's money is available on the
        connected account two days later; PayPal pays from the platform's balance at once."""
        if self.name == "stripe":
            await days_pass(ctx, 2)

    @property
    def approved(self) -> str:
        """An approved payout's status: Stripe's is on its way to the bank; PayPal's item to
        an email that exists is paid there and then."""
        return "in_transit" if self.name == "stripe" else "paid"

    async def arrives(self, ctx: Ctx) -> None:
        """Time for an approved payout to arrive (or fail): Stripe's in two days (its
        webhook); an unclaimed PayPal item is returned after 30 days, which the sync sweep
        reads at PayPal."""
        if self.name == "stripe":
            await days_pass(ctx, 2)
            return
        # The sweep asks PayPal first (the batch's own events, delivered after, find the payout
        # settled: they would have read the same returned item).
        ctx.container.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
        assert await sweep(ctx.container, sync_payouts)
        await settle(ctx.container)

    @property
    def failure_code(self) -> str:
        return "no_account" if self.name == "stripe" else "returned"


@pytest.fixture(params=["stripe", "paypal"])
def destination(request: pytest.FixtureRequest) -> Destination:
    return Destination(request.param)
