"""A clawback interrupted after its reversal: the provider's event for the reversal arrives
while the operation is in flight, and the janitor finishes it. Nothing moves twice."""

from __future__ import annotations

import pytest

from escrowd.clock import FrozenClock
from escrowd.escrows.ledgering import escrow_account, payee_available
from escrowd.escrows.refund import refund
from tests.clawback.conftest import accounts
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    funded,
    get,
    payees,
    payer,
    post,
    provider_switch,
    settle,
)
from tests.escrows.test_crash import CrashError, Faulty, recover


async def test_a_clawback_that_died_after_its_reversal_is_finished_once(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    before = await accounts(ctx, payee_available(payee))
    escrow = await funded(ctx, who, [(payee, 4_000)])
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    switch = provider_switch(ctx)
    real = switch.target
    switch.target = Faulty(real, "reverse_transfer", "after", CrashError())
    with pytest.raises(CrashError):
        await refund(ctx.container, escrow_id=escrow["id"], actor=None, clawback=True)
    switch.target = real
    # The provider's transfer.reversed arrives now: the clawback in flight will book it.
    await settle(ctx.container)
    stuck = await get(ctx, who, escrow["id"])
    assert stuck["status"] == "released"
    assert [op["type"] for op in stuck["pending_operations"]] == ["clawback"]

    await recover(ctx, clock)
    await settle(ctx.container)
    after = await get(ctx, who, escrow["id"])
    assert (after["status"], after["amount_refunded"], after["pending_operations"]) == (
        "refunded",
        4_000,
        [],
    )
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 4_000
    assert [r["amount"] for r in await sandbox.refunds(escrow["payment"]["id"])] == [4_000]
    assert await accounts(ctx, payee_available(payee)) == before
    assert await accounts(ctx, escrow_account(escrow["id"])) == {escrow_account(escrow["id"]): 0}
