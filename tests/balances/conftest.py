"""Fixtures for balances and transactions: the escrow tests' app, parties and drivers, plus
the payout delay's job and a fresh payee per test (balances are compared to the cent, so no
test shares a payee with another).

- ``await fresh_payee(ctx)`` → a new worker with a verified connected account (as a Person).
- ``await run_all_jobs(container)``: the outbox worker over the escrow jobs and the balances'
  job (``balances.make_available``).
- ``await balance_of(ctx, who, party=None)`` → ``{figure: {currency: amount}}``.
- ``await org_of(ctx, who)`` → a new organization ``who`` belongs to.
"""

from __future__ import annotations

from typing import Any

from escrowd.balances.tasks import KINDS as BALANCE_KINDS
from escrowd.bootstrap import Container
from escrowd.escrows.tasks import KINDS as ESCROW_KINDS
from escrowd.jobs.worker import Worker
from escrowd.users.models import User
from escrowd.users.organizations import service as organizations
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    person,
    sandbox,
    verified_payee,
)
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import Account


async def fresh_payee(ctx: Ctx) -> Person:
    return person(ctx, await verified_payee(ctx))


async def run_all_jobs(container: Container) -> int:
    """Run due escrow and balance jobs (and the jobs they enqueue) until none is due."""
    worker = Worker(container, kinds=(*ESCROW_KINDS, *BALANCE_KINDS), run_sweeps=False)
    total = 0
    for _ in range(20):
        ran = await worker.tick()
        total += ran
        if not ran:
            return total
    raise AssertionError("jobs kept coming")


async def balance_of(ctx: Ctx, who: Account, party: str | None = None) -> dict[str, Any]:
    params = {} if party is None else {"party": party}
    r = await ctx.client.get("/v1/balance", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["object"] == "balance"
    return {
        figure: {x["currency"]: x["amount"] for x in body[figure]}
        for figure in ("available", "pending", "in_transit")
    }


async def org_of(ctx: Ctx, who: Account) -> str:
    async with ctx.container.db.transaction() as s:
        user = await s.get(User, who.id)
        assert user is not None
        org = await organizations.create(s, clock=ctx.container.clock, creator=user, name="Crew")
    return org.id
