"""The provider an escrow's money goes through, for tests that run on Stripe and on PayPal.

A test that takes the ``rail`` fixture (tests/escrows/conftest.py) runs once per provider:

- ``await rail.create(ctx, who, allocations, **body)``: the escrow, paid through the rail;
- ``await rail.funded(ctx, who, allocations, **body)``: created and funded — Stripe with the
  4242 card; PayPal the way a payer does it: the first fund call makes the order, the payer
  approves it on the sandbox's hosted page, the second fund call captures (or authorizes) it;
- ``await rail.ready_to_fund(ctx, who, escrow)``: everything before the fund call that moves
  the money (PayPal: the order made and approved; Stripe: nothing), and ``rail.fund_body``;
- ``rail.fee(amount)``: the provider's processing fee (Stripe 2.9 % + 30¢, PayPal 3.49 % +
  49¢, both rounded half up), computed, so an assertion keeps its exact figure;
- ``rail.funding_events``: the events an escrow emits between ``escrow.created`` and its
  money being authorized or held (PayPal's escrow waits for its payer in
  ``requires_action`` first);
- what the provider itself has: ``payment_status``, ``refunds`` (amounts, as the provider
  lists them) and ``paid_to_payees`` (Stripe: the escrow's transfers at the sandbox; PayPal,
  which has no transfers, the ledger's release transfers — the payee's net stays on the
  platform's PayPal balance until their payout takes it out).

Tests that cannot mean anything on PayPal (card numbers, Stripe's event shapes, transfers to
connected accounts) stay Stripe-only and carry ``pytest.mark.stripe_only(reason)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from escrowd.config import PAYPAL_SANDBOX_PREFIX
from escrowd.ledger.models import LedgerTransfer
from tests.escrows.conftest import Ctx, Person, Sandbox, create_escrow, post

STRIPE, PAYPAL = "stripe", "paypal"


async def approve_on_paypal(ctx: Ctx, escrow: dict[str, Any]) -> str:
    """The payer opens the escrow's approval link and approves: the order's id."""
    assert escrow["status"] == "requires_action", escrow
    url = httpx.URL(escrow["next_action"]["url"])
    assert url.path.endswith("/checkoutnow"), url
    order_id = url.params["token"]
    assert order_id == escrow["payment"]["id"]
    page = await ctx.client.get(f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow", params=url.params)
    assert page.status_code == 200, page.text
    assert order_id in page.text
    done = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow/{order_id}",
        data={"action": "approve", "funding": "balance"},
    )
    # Without a return URL (escrowd's fund call sent none) the page says so itself.
    assert done.status_code == 200, done.text
    assert "Approved." in done.text
    return order_id


@dataclass(frozen=True)
class Rail:
    name: str
    #: The provider's fee: ``fee_bps`` of the amount, rounded half up, plus ``fee_fixed``.
    fee_bps: int
    fee_fixed: int

    def __str__(self) -> str:
        return self.name

    def fee(self, amount: int) -> int:
        return (amount * self.fee_bps + 5_000) // 10_000 + self.fee_fixed

    @property
    def fund_body(self) -> dict[str, Any]:
        return {"payment_method": "pm_card_visa"} if self.name == STRIPE else {}

    @property
    def funding_events(self) -> list[str]:
        return ["escrow.requires_action"] if self.name == PAYPAL else []

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        """An escrow's creation body, paid through this rail (Stripe is the default)."""
        return {**body, "payment_provider": self.name} if self.name == PAYPAL else body

    async def create(
        self, ctx: Ctx, who: Person, allocations: list[tuple[str | None, int]], **body: Any
    ) -> dict[str, Any]:
        created = await create_escrow(ctx, who, allocations, **self.body(body))
        assert created["payment_provider"] == self.name, created
        return created

    async def ready_to_fund(self, ctx: Ctx, who: Person, escrow: dict[str, Any]) -> dict[str, Any]:
        """The escrow as it is just before the fund call that moves its money."""
        if self.name == STRIPE:
            return escrow
        started = await post(ctx, who, f"/v1/escrows/{escrow['id']}/fund")
        assert started["status"] == "requires_action", started
        await approve_on_paypal(ctx, started)
        return started

    async def funded(
        self, ctx: Ctx, who: Person, allocations: list[tuple[str | None, int]], **body: Any
    ) -> dict[str, Any]:
        """Created and funded (capture mode unless ``capture_mode`` says otherwise)."""
        escrow = await self.ready_to_fund(
            ctx, who, await self.create(ctx, who, allocations, **body)
        )
        return await post(ctx, who, f"/v1/escrows/{escrow['id']}/fund", self.fund_body)

    async def payment_status(self, ctx: Ctx, payment_id: str) -> str:
        """The payment's status at the provider, in the neutral (Stripe's) words."""
        payment = await ctx.container.provider_named(self.name).retrieve_payment(payment_id)
        return payment.status.value

    async def refunds(self, ctx: Ctx, payment_id: str) -> list[int]:
        """The amounts of the payment's refunds at the provider."""
        if self.name == STRIPE:
            return [r["amount"] for r in await Sandbox(ctx.client).refunds(payment_id)]
        provider = ctx.container.provider_named(self.name)
        return [r.amount async for r in provider.list_refunds(payment_id=payment_id)]

    async def paid_to_payees(self, ctx: Ctx, escrow_id: str) -> list[int]:
        """What the escrow's releases paid its payees, smallest first."""
        if self.name == STRIPE:
            return sorted(t["amount"] for t in await Sandbox(ctx.client).transfers(escrow_id))
        async with ctx.container.db.transaction() as s:
            amounts = await s.scalars(
                select(LedgerTransfer.amount).where(
                    LedgerTransfer.reference == escrow_id, LedgerTransfer.category == "release"
                )
            )
            return sorted(amounts)


RAILS = {STRIPE: Rail(STRIPE, 290, 30), PAYPAL: Rail(PAYPAL, 349, 49)}
