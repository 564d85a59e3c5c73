"""Fifty payout requests at once never overdraw a balance (to either destination); a forged
``payout.paid`` moves nothing and opens an incident."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from escrowd.escrows.ledgering import payee_available, payouts_in_transit
from tests.balances.conftest import balance_of
from tests.escrows.conftest import Ctx, keyed, ledger_balance
from tests.escrows.test_forged_events import deliver, event_about, mismatch_incidents, stored_status
from tests.payouts.conftest import Destination, days_pass, earned, request_payout, review

AVAILABLE = 10_000
EACH = 700  # 14 fit (9800), the 15th would overdraw


async def test_fifty_concurrent_requests_never_overdraw(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, AVAILABLE)

    async def one() -> tuple[int, dict[str, Any]]:
        r = await ctx.client.post(
            "/v1/payouts",
            json={"amount": EACH, "currency": "usd", **destination.body},
            headers=keyed(worker.headers),
        )
        return r.status_code, r.json()

    answers = await asyncio.gather(*(one() for _ in range(50)))
    made = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status != 200]
    assert len(made) == AVAILABLE // EACH
    assert {(s, b["error"]["code"]) for s, b in answers if s != 200} == {(400, "amount_too_large")}
    assert len(refused) == 50 - len(made)
    held = EACH * len(made)
    assert await balance_of(ctx, worker) == {
        "available": {"usd": AVAILABLE - held},
        "pending": {"usd": 0},
        "in_transit": {"usd": held},
    }
    assert await ledger_balance(ctx, payee_available(worker.id)) == AVAILABLE


@pytest.mark.stripe_only(
    "a forged Stripe payout.paid; lying PayPal payout events are tests/paypal's "
    "(test_paypal_events.py, test_authorization_and_batch_events.py)"
)
async def test_a_forged_payout_paid_moves_nothing(ctx: Ctx) -> None:
    worker = await earned(ctx, 3000)
    payout = await request_payout(ctx, worker, 3000)
    await days_pass(ctx, 2)
    sent = await review(ctx, payout["id"], "approve")
    assert sent["status"] == "in_transit"
    real_id = sent["provider_payout"]

    # From another account than the payee's: an incident, nothing moves.
    forged: dict[str, Any] = {
        "id": real_id,
        "object": "payout",
        "amount": 3000,
        "currency": "usd",
        "status": "paid",
        "created": 0,
        "metadata": {"payout_id": payout["id"]},
    }
    wrong_account = event_about(forged, "payout.paid", account="acct_1Forger000000000")
    await deliver(ctx, wrong_account)
    assert await stored_status(ctx, wrong_account["id"]) == "rejected"
    assert len(await mismatch_incidents(ctx, wrong_account["id"])) == 1

    # An id the provider never made, naming escrowd's payout: an incident too.
    unknown = event_about(
        {**forged, "id": "po_1Unknown00000000000000"}, "payout.paid", account=sent["account"]
    )
    await deliver(ctx, unknown)
    assert await stored_status(ctx, unknown["id"]) == "rejected"
    assert len(await mismatch_incidents(ctx, unknown["id"])) == 1

    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "in_transit"
    assert await ledger_balance(ctx, payouts_in_transit(worker.id)) == 0
    assert await ledger_balance(ctx, payee_available(worker.id)) == 3000
    assert (await balance_of(ctx, worker))["in_transit"] == {"usd": 3000}

    # The real one settles it.
    await days_pass(ctx, 2)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "paid"
    assert await ledger_balance(ctx, payee_available(worker.id)) == 0
