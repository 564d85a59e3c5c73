"""An escrow's life through the API, against the in-process sandbox through the real adapter."""

from __future__ import annotations

from escrowd.escrows.ledgering import PLATFORM_FEES, escrow_account, payee_available
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    create_escrow,
    event_types,
    funded,
    get,
    ledger_balance,
    payees,
    payer,
    post,
    run_jobs,
    settle,
)

SEED_000 = {
    "rate_bps": 1500,
    "processing_bearer": "payee",
    "processing_mode": "flat_rate",
    "processing_rate_bps": 300,
    "processing_base": "after_platform_fee",
}


async def test_an_escrow_is_funded_and_released_to_two_payees_to_the_cent(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await create_escrow(
        ctx, client_, [(tester_a, 6000), (tester_b, 4000)], fee_policy=SEED_000
    )
    assert escrow["status"] == "requires_payment"
    # Seed 000: $100, 15 % fee, 3 % of what the fee leaves paid by the testers: $82.45 net.
    assert [a["net"] for a in escrow["allocations"]] == [4947, 3298]
    assert sum(a["platform_fee"] for a in escrow["allocations"]) == 1500
    assert sum(a["processing_cost"] for a in escrow["allocations"]) == 255

    held = await post(
        ctx, client_, f"/v1/escrows/{escrow['id']}/fund", {"payment_method": "pm_card_visa"}
    )
    assert held["status"] == "held"
    assert held["amount_held"] == 10_000
    assert held["payment"]["processing_fee"] == 320  # 2.9 % + 30¢ on $100
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 10_000

    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert [a["status"] for a in released["allocations"]] == ["released", "released"]
    assert [a["net_released"] for a in released["allocations"]] == [4947, 3298]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    assert await ledger_balance(ctx, payee_available(tester_a)) >= 4947
    transfers = await sandbox.transfers(escrow["id"])
    assert sorted(t["amount"] for t in transfers) == [3298, 4947]
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        "escrow.funded",
        "escrow.released",
    ]


async def test_an_authorization_is_captured_then_partly_released_and_the_rest_refunded(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    escrow = await funded(
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
    refunds = await sandbox.refunds(escrow["payment"]["id"])
    assert [r["amount"] for r in refunds] == [7000]
    await settle(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "released"


async def test_a_cancelled_authorization_is_voided_at_the_provider(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(tester, 2500)], capture_mode="authorize")
    cancelled = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await run_jobs(ctx.container)
    payment = await sandbox.payment(escrow["payment"]["id"])
    assert payment["status"] == "canceled"
    await settle(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "cancelled"
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        "escrow.authorized",
        "escrow.cancelled",
    ]
