"""A clawback reconciles: its refund and its reversals are the provider's, to the cent."""

from __future__ import annotations

from datetime import timedelta

from escrowd.clock import FrozenClock
from escrowd.reconcile.service import reconcile, reconcile_escrow
from tests.escrows.conftest import Ctx, payees, payer, settle
from tests.reconcile.conftest import call, funded, own_day


async def test_a_clawed_back_escrow_has_no_differences(ctx: Ctx, clock: FrozenClock) -> None:
    day = own_day(clock, 50)  # a day of its own: the reconcile tests use 0 to 3
    who = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, who, [(payee, 8_000)])
    await call(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    await call(ctx, who, f"/v1/escrows/{escrow['id']}/refund", {"clawback": True, "amount": 3_000})
    await settle(ctx.container)
    clock.advance(timedelta(hours=1))

    report = await reconcile(ctx.container, since=day, until=day + timedelta(days=1))
    assert report.differences == []
    assert report.compared == {"payments": 1, "refunds": 1, "transfers": 1, "payouts": 0}
    [(_, totals)] = report.totals.items()
    assert totals["refunds"] == [3_000, 3_000]
    assert totals["reversals"][0] == totals["reversals"][1] > 0
    assert (await reconcile_escrow(ctx.container, escrow["id"])).differences == []
