"""Fixtures for disputes: the escrow tests' app and drivers, plus the disputes router.

- ``await deal(ctx, amounts)`` → a payer (Person), the payees' ids and a funded escrow
  (4242 card; ``card=`` another ``pm_card_…``, e.g. ``pm_card_createDispute``).
- ``payee_person(ctx, id)``: a payee who can call the API.
- ``await dispute(ctx, who, escrow_id, status=200, **body)``, ``await act(ctx, who, id,
  verb, body, status)`` (``review``, ``resolve``, ``close``, ``evidence``).
- ``await chargeback_of(ctx, admin, escrow_id)``: the escrow's chargeback as escrowd shows it.
- ``await run_dispute_jobs(ctx)``: due escrow and dispute jobs (a chargeback's recovery and
  repayment), and the webhooks they cause, until none is left.
- ``await settle_dispute_at_provider(ctx, dp_id, won=True)``: evidence that wins (or loses)
  in the sandbox, as in Stripe's test mode; its events are delivered and processed.
"""

from __future__ import annotations

from typing import Any

from escrowd.disputes import tasks as dispute_tasks
from escrowd.escrows import tasks as escrow_tasks
from escrowd.jobs.worker import Worker
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    container,
    funded,
    payees,
    payer,
    post,
    sandbox,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import Account, make_api_key

Body = dict[str, Any]


async def admin(ctx: Ctx) -> Account:
    """A platform API key, as an Account whose headers carry it."""
    _, secret = await make_api_key(ctx.container)
    return Account("key", "", "", "admin", secret)


def payee_person(ctx: Ctx, payee_id: str) -> Person:
    p = Person(payee_id, "", "", "worker", "")
    p.container = ctx.container
    return p


async def deal(
    ctx: Ctx, amounts: list[int], *, card: str = "pm_card_visa"
) -> tuple[Person, list[str], Body]:
    who = await payer(ctx)
    ids = await payees(ctx, len(amounts))
    if card == "pm_card_visa":
        escrow = await funded(ctx, who, list(zip(ids, amounts, strict=True)))
    else:
        from tests.escrows.conftest import create_escrow

        created = await create_escrow(ctx, who, list(zip(ids, amounts, strict=True)))
        escrow = await post(ctx, who, f"/v1/escrows/{created['id']}/fund", {"payment_method": card})
    assert escrow["status"] == "held", escrow
    return who, ids, escrow


async def dispute(ctx: Ctx, who: Account, escrow_id: str, status: int = 200, **body: Any) -> Body:
    payload = {"escrow": escrow_id, "reason": "quality", **body}
    return await post(ctx, who, "/v1/disputes", payload, status=status)


async def act(
    ctx: Ctx, who: Account, dispute_id: str, verb: str, body: Body | None = None, status: int = 200
) -> Body:
    return await post(ctx, who, f"/v1/disputes/{dispute_id}/{verb}", body, status=status)


async def escrow_of(ctx: Ctx, who: Account, escrow_id: str) -> Body:
    r = await ctx.client.get(f"/v1/escrows/{escrow_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    out: Body = r.json()
    return out


async def chargebacks_of(ctx: Ctx, who: Account, escrow_id: str) -> list[Body]:
    r = await ctx.client.get(
        "/v1/disputes", params={"escrow": escrow_id, "kind": "chargeback"}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    data: list[Body] = r.json()["data"]
    return data


async def settle_dispute_at_provider(ctx: Ctx, provider_dispute_id: str, *, won: bool) -> None:
    text = "winning_evidence" if won else "losing_evidence"
    r = await ctx.client.post(
        f"/sandbox/stripe/v1/disputes/{provider_dispute_id}",
        data={"evidence[uncategorized_text]": text},
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == ("won" if won else "lost")
    await settle(ctx.container)


async def run_dispute_jobs(ctx: Ctx) -> int:
    worker = Worker(
        ctx.container, kinds=(*escrow_tasks.KINDS, *dispute_tasks.KINDS), run_sweeps=False
    )
    total = 0
    for _ in range(20):
        moved = await settle(ctx.container) + await worker.tick()
        total += moved
        if not moved:
            return total
    raise AssertionError("jobs kept coming")
