"""An escrow's life through the API, against the in-process sandbox through the real adapter,
paid through Stripe and through PayPal (``rail``)."""

from __future__ import annotations

from escrowd.escrows.ledgering import PLATFORM_FEES, escrow_account, payee_available
from tests.escrows.conftest import (
    Ctx,
    event_types,
    get,
    ledger_balance,
    payees,
    payer,
    post,
    run_jobs,
    settle,
)
from tests.escrows.rails import Rail

SEED_000 = {
    "rate_bps": 1500,
    "processing_bearer": "payee",
    "processing_mode": "flat_rate",
    "processing_rate_bps": 300,
    "processing_base": "after_platform_fee",
}


async def test_an_escrow_is_funded_and_released_to_two_payees_to_the_cent(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await rail.create(
        ctx, client_, [(tester_a, 6000), (tester_b, 4000)], fee_policy=SEED_000
    )
    assert escrow["status"] == "requires_payment"
    # Seed 000: $100, 15 % fee, 3 % of what the fee leaves paid by the testers: $82.45 net.
    assert [a["net"] for a in escrow["allocations"]] == [4947, 3298]
    assert sum(a["platform_fee"] for a in escrow["allocations"]) == 1500
    assert sum(a["processing_cost"] for a in escrow["allocations"]) == 255

    await rail.ready_to_fund(ctx, client_, escrow)
    held = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/fund", rail.fund_body)
    assert held["status"] == "held"
    assert held["amount_held"] == 10_000
    # Stripe: 2.9 % + 30¢ on $100 = 3.20; PayPal: 3.49 % + 49¢ = 3.98.
    assert (
        held["payment"]["processing_fee"]
        == rail.fee(10_000)
        == {"stripe": 320, "paypal": 398}[rail.name]
    )
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 10_000

    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert [a["status"] for a in released["allocations"]] == ["released", "released"]
    assert [a["net_released"] for a in released["allocations"]] == [4947, 3298]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    assert await ledger_balance(ctx, payee_available(tester_a)) >= 4947
    assert await rail.paid_to_payees(ctx, escrow["id"]) == [3298, 4947]
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        *rail.funding_events,
        "escrow.funded",
        "escrow.released",
    ]


async def test_an_authorization_is_captured_then_partly_released_and_the_rest_refunded(
    ctx: Ctx, rail: Rail
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    escrow = await rail.funded(
        ctx,
        client_,
        [(tester, 6000), (tester, 4000)],
        capture_mode="authorize",
        fee_policy={"rate_bps": 1000},
    )
    assert escrow["status"] == "authorized"
    assert escrow["payment"]["capture_before"] is not None
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0  # a hold, not posted

    captured = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/capture")
    assert captured["status"] == "held"
    first = captured["allocations"][0]["id"]

    part = await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/release",
        {"allocations": [{"id": first, "amount": 3000}]},
    )
    assert part["status"] == "partially_released"
    assert part["allocations"][0]["amount_released"] == 3000
    assert part["allocations"][0]["net_released"] == 2700

    refunded = await post(
        ctx, client_, f"/v1/escrows/{escrow['id']}/refund", {"amount": 7000, "prorated": True}
    )
    assert refunded["status"] == "released"
    assert [a["amount_refunded"] for a in refunded["allocations"]] == [3000, 4000]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == 300
    assert await rail.refunds(ctx, escrow["payment"]["id"]) == [7000]
    await settle(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "released"


async def test_a_cancelled_authorization_is_voided_at_the_provider(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await rail.funded(ctx, client_, [(tester, 2500)], capture_mode="authorize")
    cancelled = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await run_jobs(ctx.container)
    assert await rail.payment_status(ctx, escrow["payment"]["id"]) == "canceled"
    await settle(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "cancelled"
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        *rail.funding_events,
        "escrow.authorized",
        "escrow.cancelled",
    ]
