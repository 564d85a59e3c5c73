"""``ESCROWD_CLAWBACK_SHORTFALL=absorb``: what the payee cannot give back, the platform pays,
booked to ``platform:losses``; the provider reverses only what the payee's balance covers."""

from __future__ import annotations

import pytest

from escrowd.config import Environment, Settings
from escrowd.escrows.ledgering import PLATFORM_LOSSES, escrow_account, payee_debt
from tests.clawback.conftest import accounts, clawback, drained_payee
from tests.escrows.conftest import Ctx, Sandbox, payer


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        clawback_shortfall="absorb",
    )


async def test_the_platform_absorbs_what_the_payee_cannot_give_back(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    who = await payer(ctx)
    before = await accounts(ctx, PLATFORM_LOSSES)
    worker, escrow = await drained_payee(ctx, who, 2_500)
    done = await clawback(ctx, who, escrow["id"])
    assert (done["status"], done["amount_refunded"]) == ("refunded", 2_500)
    after = await accounts(
        ctx, PLATFORM_LOSSES, payee_debt(worker.id), escrow_account(escrow["id"])
    )
    assert after[PLATFORM_LOSSES] - before[PLATFORM_LOSSES] == -2_500
    assert after[payee_debt(worker.id)] == 0
    assert after[escrow_account(escrow["id"])] == 0
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount_reversed"] == 0
