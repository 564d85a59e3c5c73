"""Fixtures for clawbacks: the escrow tests' app and drivers, and a few readers.

- ``await clawback(ctx, who, escrow_id, status=200, **body)``: a refund with
  ``clawback: true`` and a fresh Idempotency-Key.
- ``await accounts(ctx, *codes)`` → each ledger account's posted balance (credits − debits).
- ``await drained_payee(ctx, payer, amount)`` → a fresh payee who was released ``amount``
  (no fee) and asked to pay all of it out: nothing is left to take back.
"""

from __future__ import annotations

from typing import Any

from escrowd.escrows.ledgering import payee_available
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    container,
    funded,
    ledger_balance,
    post,
    sandbox,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.payouts.conftest import onboarded_payee, request_payout


async def clawback(
    ctx: Ctx, who: Person, escrow_id: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    return await post(
        ctx, who, f"/v1/escrows/{escrow_id}/refund", {"clawback": True, **body}, status=status
    )


async def accounts(ctx: Ctx, *codes: str) -> dict[str, int]:
    return {code: await ledger_balance(ctx, code) for code in codes}


async def drained_payee(ctx: Ctx, who: Person, amount: int) -> tuple[Person, dict[str, Any]]:
    worker = await onboarded_payee(ctx)
    escrow = await funded(ctx, who, [(worker.id, amount)], fee_policy={"rate_bps": 0})
    await post(ctx, who, f"/v1/escrows/{escrow['id']}/release")
    await settle(ctx.container)
    await request_payout(ctx, worker, amount)
    assert await ledger_balance(ctx, payee_available(worker.id)) == amount  # held, not moved
    return worker, escrow
