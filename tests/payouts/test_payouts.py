"""Payouts end to end on the sandbox: escrow → available → payout → paid (or failed, the money
back), reviewed by an admin, with the ledger and the balance following to the cent — to a
Stripe connected account's bank and to a PayPal email (``destination``)."""

from __future__ import annotations

from typing import Any

import pytest

from escrowd.escrows.ledgering import clearing, payee_available, payouts_in_transit
from tests.balances.conftest import balance_of
from tests.escrows.conftest import Ctx, api_key_headers, event_types, ledger_balance, payer
from tests.payouts.conftest import (
    Destination,
    days_pass,
    earned,
    onboarded_payee,
    request_payout,
    review,
)


def figures(available: int, in_transit: int) -> dict[str, Any]:
    return {
        "available": {"usd": available},
        "pending": {"usd": 0},
        "in_transit": {"usd": in_transit},
    }


async def test_earnings_go_from_escrow_to_the_bank(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, 3000)
    cleared_before = await ledger_balance(ctx, clearing(destination.name))

    payout = await request_payout(ctx, worker, 2000, **destination.body)
    assert (payout["object"], payout["status"], payout["amount"]) == ("payout", "requested", 2000)
    assert payout["id"].startswith("po_")
    assert payout["party"] == worker.id
    assert payout["provider"] == destination.name
    # Held: no longer available, on its way; the ledger's posted figures have not moved.
    assert await balance_of(ctx, worker) == figures(1000, 2000)
    assert await ledger_balance(ctx, payee_available(worker.id)) == 3000

    await destination.ready(ctx)
    approved = await review(ctx, payout["id"], "approve")
    assert approved["status"] == destination.approved
    assert approved["provider_payout"]
    if destination.name == "stripe":
        assert approved["provider_payout"].startswith("po_")
        assert approved["arrival_date"] is not None
        await days_pass(ctx, 2)  # arrival: the sandbox sends payout.paid
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid"
    assert await balance_of(ctx, worker) == figures(1000, 0)
    assert await ledger_balance(ctx, payee_available(worker.id)) == 1000
    assert await ledger_balance(ctx, payouts_in_transit(worker.id)) == 0
    # Money left the platform: the clearing account got it (a debit-normal account's credit).
    assert await ledger_balance(ctx, clearing(destination.name)) == cleared_before + 2000
    assert await event_types(ctx, worker, payout["id"]) == [
        "payout.requested",
        "payout.approved",
        "payout.paid",
    ]


async def test_a_failed_payout_returns_the_money(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, 4000, failing=True)
    payout = await request_payout(ctx, worker, 4000, **destination.body)
    assert await balance_of(ctx, worker) == figures(0, 4000)
    await destination.ready(ctx)
    assert (await review(ctx, payout["id"], "approve"))["status"] == "in_transit"
    await destination.arrives(ctx)  # the bank refuses (payout.failed); PayPal returns it

    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    failed = r.json()
    assert (failed["status"], failed["failure_code"]) == ("failed", destination.failure_code)
    assert failed["failure_message"]
    assert await balance_of(ctx, worker) == figures(4000, 0)
    assert await ledger_balance(ctx, payee_available(worker.id)) == 4000
    assert await event_types(ctx, worker, payout["id"]) == [
        "payout.requested",
        "payout.approved",
        "payout.failed",
    ]
    # The money can be asked for again.
    again = await request_payout(ctx, worker, 4000, **destination.body)
    assert again["status"] == "requested"


@pytest.mark.stripe_only(
    "the refusal is Stripe's: the connected account's money is not available yet (a PayPal "
    "payout is paid from the platform's balance)"
)
async def test_the_provider_refusing_fails_the_payout_at_once(ctx: Ctx) -> None:
    """Approved before the connected account's funds are available: the provider refuses."""
    worker = await earned(ctx, 1500)
    payout = await request_payout(ctx, worker, 1500)
    failed = await review(ctx, payout["id"], "approve")
    assert (failed["status"], failed["failure_code"]) == ("failed", "balance_insufficient")
    assert await balance_of(ctx, worker) == figures(1500, 0)


async def test_reject_returns_the_money(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, 2500)
    payout = await request_payout(ctx, worker, 1000, **destination.body)
    rejected = await review(ctx, payout["id"], "reject", {"reason": "Identity check pending"})
    assert (rejected["status"], rejected["reason"]) == ("rejected", "Identity check pending")
    assert await balance_of(ctx, worker) == figures(2500, 0)
    # Neither again, nor approved afterwards.
    await review(ctx, payout["id"], "reject", {"reason": "again"}, status=409)
    err = await review(ctx, payout["id"], "approve", status=409)
    assert err["error"]["code"] == "payout_state"
    assert (await event_types(ctx, worker, payout["id"]))[-1] == "payout.rejected"


async def test_more_than_available_is_refused_naming_the_figure(
    ctx: Ctx, destination: Destination
) -> None:
    worker = await destination.earned(ctx, 1200)
    err = await request_payout(ctx, worker, 1201, status=400, **destination.body)
    assert err["error"]["code"] == "amount_too_large"
    assert err["error"]["param"] == "amount"
    assert "12.00 usd" in err["error"]["message"]
    await request_payout(ctx, worker, 1000, **destination.body)
    err = await request_payout(ctx, worker, 201, status=400, **destination.body)
    assert "2.00 usd" in err["error"]["message"]  # what the first payout left


@pytest.mark.stripe_only(
    "the connected account's KYC gate; a PayPal payout needs the payee's PayPal email "
    "(paypal_email_required: tests/paypal/test_escrows_on_paypal.py)"
)
async def test_a_payee_not_verified_is_refused(ctx: Ctx) -> None:
    from tests.accounts.conftest import create_account
    from tests.escrows.conftest import person
    from tests.integration.conftest import make_user

    nobody = await payer(ctx)
    err = await request_payout(ctx, nobody, 100, status=409)
    assert err["error"]["code"] == "payee_account_missing"
    pending = person(ctx, await make_user(ctx.container, role="worker"))
    await create_account(ctx.client, pending)
    err = await request_payout(ctx, pending, 100, status=409)
    assert err["error"]["code"] == "payee_account_pending"


async def test_strangers_can_neither_see_nor_review(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, 900)
    payout = await request_payout(ctx, worker, 900, **destination.body)
    stranger = await onboarded_payee(ctx)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=stranger.headers)
    assert r.status_code == 404, r.text
    r = await ctx.client.get("/v1/payouts", headers=stranger.headers)
    assert payout["id"] not in [p["id"] for p in r.json()["data"]]
    for action, body in (("approve", {}), ("reject", {"reason": "mine"})):
        r = await ctx.client.post(
            f"/v1/payouts/{payout['id']}/{action}",
            json=body,
            headers={**stranger.headers, "Idempotency-Key": f"k-{action}-{payout['id']}"},
        )
        assert r.status_code == 403, r.text
    # Nor pay out someone else's money.
    err = await request_payout(ctx, stranger, 1, status=404, party=worker.id, **destination.body)
    assert err["error"]["param"] == "party"
    # The payee and admins see it; admins filter by status and party.
    r = await ctx.client.get("/v1/payouts", headers=worker.headers)
    assert [p["id"] for p in r.json()["data"]] == [payout["id"]]
    admin = await api_key_headers(ctx)
    r = await ctx.client.get(
        "/v1/payouts", params={"status": "requested", "party": worker.id}, headers=admin
    )
    assert [p["id"] for p in r.json()["data"]] == [payout["id"]]
    r = await ctx.client.get(
        "/v1/payouts", params={"status": "paid", "party": worker.id}, headers=admin
    )
    assert r.json()["data"] == []


async def test_money_routes_demand_an_idempotency_key(ctx: Ctx, destination: Destination) -> None:
    worker = await destination.earned(ctx, 500)
    r = await ctx.client.post(
        "/v1/payouts",
        json={"amount": 100, "currency": "usd", **destination.body},
        headers=worker.headers,
    )
    assert r.status_code == 400, r.text
    assert await balance_of(ctx, worker) == figures(500, 0)


@pytest.mark.stripe_only(
    "a Stripe payout arrives days after its approval; a PayPal item's answer is the approval's "
    "own (the sweep settling a PayPal item PayPal returned: test_a_failed_payout_returns_the_money)"
)
async def test_the_sync_sweep_settles_a_payout_whose_webhook_never_came(ctx: Ctx) -> None:
    from escrowd.payouts.tasks import QUIET, sync_payouts
    from escrowd.sandbox.stripe.due import run_due
    from tests.escrows.conftest import sweep

    worker = await earned(ctx, 800)
    payout = await request_payout(ctx, worker, 800)
    await days_pass(ctx, 2)
    await review(ctx, payout["id"], "approve")
    # Arrival at the sandbox, but its payout.paid is never delivered.
    ctx.container.clock.advance(2 * QUIET + (QUIET * 60 * 24 * 2))  # type: ignore[attr-defined]
    await run_due(ctx.container)
    assert await sweep(ctx.container, sync_payouts)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "paid"
    assert await balance_of(ctx, worker) == figures(0, 0)
