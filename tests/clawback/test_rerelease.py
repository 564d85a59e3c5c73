"""Money reversed from a payee can be released again: the charge no longer has it (Stripe
counts a reversed transfer as taken from its source), so the new transfer comes from the
platform's balance, where the reversal put it."""

from __future__ import annotations

from escrowd.escrows.ledgering import payee_available
from tests.clawback.conftest import accounts
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    create_escrow,
    funded,
    payees,
    payer,
    post,
    settle,
)


async def test_reversed_money_is_released_again_without_naming_the_charge(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    before = await accounts(ctx, payee_available(payee))
    escrow = await funded(ctx, who, [(payee, 6_000)], fee_policy={"rate_bps": 1000})
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    (first,) = await sandbox.transfers(escrow["id"])
    assert first["source_transaction"] == escrow["payment"]["charge"]
    # The platform reverses the transfer at the provider (its dashboard): the event books it.
    r = await ctx.client.post(
        f"/sandbox/stripe/v1/transfers/{first['id']}/reversals",
        data={"amount": "5400"},
        headers=sandbox.headers,
    )
    assert r.status_code == 200, r.text
    await settle(ctx.container)
    # Without a source, the platform's available balance pays (where the reversal put the
    # money). Other tests' refunds drew on it: top it up as Stripe's docs say, with 0077.
    top_up = await create_escrow(ctx, who, [(payee, 1_000_000)])
    await post(
        ctx, who, f"/v1/escrows/{top_up['id']}/fund", {"payment_method": "pm_card_bypassPending"}
    )
    again = await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    assert (again["status"], again["amount_released"]) == ("released", 6_000)
    transfers = {t["id"]: t for t in await sandbox.transfers(escrow["id"])}
    (second,) = [t for t in transfers.values() if t["id"] != first["id"]]
    assert second["amount"] == 5_400
    assert second["source_transaction"] is None
    assert (await accounts(ctx, payee_available(payee)))[payee_available(payee)] == (
        before[payee_available(payee)] + 5_400
    )
