"""Fifty releases and refunds fired at one escrow at once move its money exactly once (paid
through Stripe and through PayPal, ``rail``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Environment, Settings
from escrowd.db.session import Database
from escrowd.escrows.ledgering import escrow_account
from escrowd.ledger.verify import summary_lines, verify
from tests.accounts.conftest import Browser
from tests.escrows.conftest import (
    Ctx,
    funded,
    get,
    keyed,
    ledger_balance,
    mount,
    payees,
    payer,
)
from tests.escrows.rails import Rail


@pytest.fixture(params=["postgres", "sqlite"])
def own_url(request: pytest.FixtureRequest, fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory(request.param)


@pytest.fixture
async def own(own_url: str, clock: FrozenClock) -> AsyncIterator[Ctx]:
    """An app on a database of its own (PostgreSQL: real row locks between connections)."""
    url = own_url
    settings = Settings(
        env=Environment.test,
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        db_pool_size=30,
    )
    container: Container = build(settings, clock=clock)
    app = mount(create_app(container))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            yield Ctx(c, container, Browser(c))
    finally:
        await container.close()


async def test_fifty_concurrent_releases_and_refunds_move_the_money_exactly_once(
    own: Ctx, rail: Rail
) -> None:
    ctx = own
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await rail.funded(ctx, client_, [(tester_a, 2000), (tester_b, 1000)])
    first, second = (a["id"] for a in escrow["allocations"])
    path = f"/v1/escrows/{escrow['id']}"
    release = {"allocations": [{"id": first, "amount": 100}]}
    refund = {"allocations": [{"id": second, "amount": 100}]}

    async def fire(action: str, body: dict[str, Any]) -> tuple[str, int, str]:
        r = await ctx.client.post(f"{path}/{action}", json=body, headers=keyed(client_.headers))
        code = r.json()["error"]["code"] if r.status_code != 200 else "ok"
        return action, r.status_code, code

    calls = [fire("release", release) for _ in range(25)] + [
        fire("refund", refund) for _ in range(25)
    ]
    results = await asyncio.gather(*calls)
    outcomes = Counter(results)
    assert outcomes[("release", 200, "ok")] == 20, outcomes
    assert outcomes[("refund", 200, "ok")] == 10, outcomes
    refused = {(status, code) for _, status, code in results if status != 200}
    assert refused <= {
        (400, "amount_too_large"),
        (409, "escrow_operation_in_progress"),
        (409, "escrow_state_conflict"),
    }, refused

    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["amount_released"], after["amount_refunded"]) == (
        "released",
        2000,
        1000,
    )
    assert after["pending_operations"] == []
    assert await rail.paid_to_payees(ctx, escrow["id"]) == [100] * 20
    assert await rail.refunds(ctx, escrow["payment"]["id"]) == [100] * 10
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    database = Database(ctx.container.db.url)
    try:
        report = await verify(database)
    finally:
        await database.dispose()
    assert report.ok, summary_lines(report)


@pytest.mark.stripe_only(
    "the ledger's lock order is the same whatever the provider; on Stripe each release also "
    "waits on a transfer call, the longest window for a cycle"
)
async def test_releases_whose_payees_cross_neither_deadlock_nor_move_money_twice(
    own: Ctx,
) -> None:
    """Escrows paying A then B and B then A, released at once: each settlement locks its
    ledger accounts in one sorted order, so none waits on another in a cycle."""
    ctx = own
    client_ = await payer(ctx)
    a, b = await payees(ctx, 2)
    escrows = [await funded(ctx, client_, [(a, 1000), (b, 700)]) for _ in range(4)]
    escrows += [await funded(ctx, client_, [(b, 700), (a, 1000)]) for _ in range(4)]

    async def release(escrow: dict[str, Any]) -> tuple[int, str]:
        r = await ctx.client.post(
            f"/v1/escrows/{escrow['id']}/release", json={}, headers=keyed(client_.headers)
        )
        return r.status_code, r.text

    results = await asyncio.gather(*(release(e) for e in escrows))
    assert all(status == 200 for status, _ in results), results
    for escrow in escrows:
        assert (await get(ctx, client_, escrow["id"]))["status"] == "released"
        assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
