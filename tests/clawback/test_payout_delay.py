"""Clawbacks with a payout delay: money still pending is taken from pending; a debt is repaid
when the next earnings become available."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.escrows.ledgering import payee_available, payee_debt, payee_pending
from tests.balances.conftest import fresh_payee, run_all_jobs
from tests.clawback.conftest import accounts, clawback
from tests.escrows.conftest import Ctx, funded, payer, post
from tests.payouts.conftest import request_payout

DELAY = 3600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"payout_delay_seconds": DELAY})


async def test_a_clawback_takes_pending_money_from_pending(ctx: Ctx) -> None:
    who = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, who, [(worker.id, 3_000)], fee_policy={"rate_bps": 1000})
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    done = await clawback(ctx, who, escrow["id"], amount=1_000)
    assert done["amount_refunded"] == 1_000
    codes = (payee_pending(worker.id), payee_available(worker.id), payee_debt(worker.id))
    assert await accounts(ctx, *codes) == dict(zip(codes, (2_700 - 900, 0, 0), strict=True))


async def test_a_debt_is_repaid_when_the_next_earnings_become_available(
    ctx: Ctx, clock: FrozenClock
) -> None:
    who = await payer(ctx)
    worker = await fresh_payee(ctx)
    first = await funded(ctx, who, [(worker.id, 3_000)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{first['id']}/release")
    clock.advance(timedelta(seconds=DELAY))
    await run_all_jobs(ctx.container)
    await request_payout(ctx, worker, 3_000)  # held: nothing left to take back
    await clawback(ctx, who, first["id"])
    debt = payee_debt(worker.id)
    assert (await accounts(ctx, debt))[debt] == -3_000

    second = await funded(ctx, who, [(worker.id, 2_000)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{second['id']}/release")
    assert (await accounts(ctx, debt))[debt] == -3_000  # pending money repays nothing yet
    clock.advance(timedelta(seconds=DELAY))
    await run_all_jobs(ctx.container)
    codes = (debt, payee_available(worker.id), payee_pending(worker.id))
    assert await accounts(ctx, *codes) == dict(zip(codes, (-1_000, 3_000, 0), strict=True))
