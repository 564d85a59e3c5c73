"""Funding an escrow: declines, 3-D Secure, the hosted card form, open slots, the KYC gate.

Cards, 3-D Secure and the card form are Stripe's (PayPal's payer approves on PayPal:
tests/paypal/test_escrows_on_paypal.py); open slots run on both providers (``rail``)."""

from __future__ import annotations

import httpx
import pytest

from escrowd.escrows.ledgering import escrow_account
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    create_escrow,
    event_types,
    funded,
    get,
    keyed,
    ledger_balance,
    payees,
    payer,
    post,
    settle,
)
from tests.escrows.rails import Rail
from tests.integration.conftest import assert_error, make_user

CARDS = pytest.mark.stripe_only("card numbers, 3-D Secure and the card form are Stripe's")

RETURN_URL = "https://market.test/escrows/back"


@CARDS
async def test_declined_cards_are_402_with_the_reason_and_the_payer_may_try_again(
    ctx: Ctx,
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 4000)])
    fund = f"/v1/escrows/{escrow['id']}/fund"
    for card, decline in [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ]:
        r = await ctx.client.post(
            fund, json={"payment_method": card}, headers=keyed(client_.headers)
        )
        err = assert_error(r, 402, "card_error", decline)
        assert err["message"].startswith("Your card")
        after = await get(ctx, client_, escrow["id"])
        assert after["status"] == "requires_payment"
        assert after["last_payment_error"]["decline_code"] == decline
    held = await post(ctx, client_, fund, {"payment_method": "pm_card_visa"})
    assert (held["status"], held["last_payment_error"], held["payment"]["attempts"]) == (
        "held",
        None,
        3,
    )
    await settle(ctx.container)
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        "payment.failed",
        "payment.failed",
        "escrow.funded",
    ]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 4000


@CARDS
async def test_3d_secure_sends_the_payer_to_the_hosted_page_and_the_webhook_funds_the_escrow(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 3000)], capture_mode="authorize")
    pending = await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/fund",
        {"payment_method": "pm_card_threeDSecureRequired", "return_url": RETURN_URL},
    )
    assert pending["status"] == "requires_action"
    url = pending["next_action"]["url"]
    page = httpx.URL(url)
    done = await ctx.client.post(
        page.raw_path.decode(), data={"token": page.params["token"], "outcome": "complete"}
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(RETURN_URL)
    await settle(ctx.container)
    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "authorized"
    assert after["next_action"] is None
    captured = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/capture")
    assert captured["status"] == "held"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 3000
    assert (await sandbox.payment(after["payment"]["id"]))["status"] == "succeeded"


@CARDS
async def test_the_hosted_card_form_returns_a_card_that_funds_the_escrow(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 2000)])
    fund = f"/v1/escrows/{escrow['id']}/fund"
    form = await post(ctx, client_, fund, {"return_url": RETURN_URL})
    assert form["status"] == "requires_action"
    saved = await ctx.browser.save_card(form["next_action"]["url"])
    assert saved.status_code == 303
    back = httpx.URL(saved.headers["location"])
    assert back.params["state"] == escrow["id"]
    held = await post(ctx, client_, fund, {"payment_method": back.params["payment_method"]})
    assert held["status"] == "held"


async def test_an_open_slot_is_assigned_before_its_money_is_released(ctx: Ctx, rail: Rail) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await rail.funded(ctx, client_, [(tester_a, 1500), (None, 1500)])
    slot = escrow["allocations"][1]["id"]
    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/release",
        json={"allocations": [{"id": slot}]},
        headers=keyed(client_.headers),
    )
    assert_error(r, 400, "invalid_request_error", "allocation_unassigned")
    assigned = await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/allocations/{slot}/assign",
        {"payee": tester_b},
    )
    assert assigned["allocations"][1]["payee"] == tester_b
    r = await ctx.client.post(
        f"/v1/escrows/{escrow['id']}/allocations/{slot}/assign",
        json={"payee": tester_a},
        headers=client_.headers,
    )
    assert_error(r, 409, "invalid_request_error", "allocation_assigned")
    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    assert "allocation.payee_assigned" in await event_types(ctx, client_, slot)


@pytest.mark.stripe_only(
    "the KYC gate is the payee's verified connected account, which a Stripe transfer needs; a "
    "PayPal release pays the ledger and the payout goes to the payee's PayPal email"
)
async def test_money_never_goes_to_a_payee_without_a_verified_account(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    unverified = await make_user(ctx.container, role="worker")
    escrow = await funded(ctx, client_, [(unverified.id, 2500)])
    r = await ctx.client.post(f"/v1/escrows/{escrow['id']}/release", headers=keyed(client_.headers))
    err = assert_error(r, 409, "invalid_request_error", "payee_account_missing")
    assert unverified.id in err["message"]
    after = await get(ctx, client_, escrow["id"])
    assert (after["status"], after["amount_released"], after["pending_operations"]) == (
        "held",
        0,
        [],
    )
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 2500
