"""Seed 001, the handwork marketplace, paid with PayPal: post, apply, hire with PayPal, pay on
PayPal's approval page, complete, release, a payout to the worker's PayPal email — walked
through the HTTP API on escrowd's PayPal sandbox.

The seed's numbers: a $150.00 booking, the platform fee 5 % ($7.50), the worker's amount
$142.50, a $100.00 payout request. PayPal's fee on the capture ($5.73 in the sandbox: 3.49 %
+ $0.49) is recorded as Stripe's is, and the platform bears it (docs/providers.md).

The worker has no Stripe account at all: a saved PayPal email is what lets them apply, and
where their payout goes. A Stripe booking for them is refused (no payout account to transfer
to); paying the PayPal booking with Stripe is 409 ``payment_provider_mismatch``. The client's
pay call answers with PayPal's approval page; the client approves there (the sandbox's hosted
page, over HTTP as a browser would); PayPal's approval webhook is only a hint: escrowd reads
the order back at PayPal and captures it, and the booking is HELD; the same job run before the
approval holds nothing.
"""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import aliased

from escrowd.config import PAYPAL_SANDBOX_PREFIX
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS, escrow_account
from escrowd.escrows.tasks import CONFIRM_PAYPAL_JOB
from escrowd.jobs import enqueue
from escrowd.ledger.models import LedgerAccount, LedgerTransfer
from escrowd.ledger.verify import summary_lines, verify
from escrowd.providers.paypal.provider import PayPalProvider
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    ledger_balance,
    mount,
    payer,
    person,
    run_jobs,
    settle,
)
from tests.escrows.conftest import client as client
from tests.escrows.conftest import container as container
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import make_user
from tests.marketplace.test_seed_001_bookings import (
    BOOKING,
    FEE,
    PAYOUT,
    WORKER_GETS,
    Json,
    call,
    ok,
    refused,
    usd,
)

EMAIL = "handy.worker@example.com"


def paypal_of(ctx: Ctx) -> PayPalProvider:
    provider = ctx.container.provider_named("paypal")
    assert isinstance(provider, PayPalProvider)
    return provider


async def approve_on_paypal(ctx: Ctx, booking: Json, *, return_url: str | None = None) -> str:
    """The client opens the booking's approval link and approves: the PayPal order's id.
    With a ``return_url`` PayPal sends the client back there; without, its page says so."""
    payment = booking["payment"]
    assert (payment["status"], payment["escrow_status"]) == ("pending", "requires_action")
    url = httpx.URL(payment["next_action"]["url"])
    assert url.path.endswith("/checkoutnow"), url
    order_id = url.params["token"]
    page = await ctx.client.get(f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow", params=url.params)
    assert page.status_code == 200, page.text
    assert order_id in page.text
    done = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow/{order_id}",
        data={"action": "approve", "funding": "balance"},
    )
    if return_url is None:
        assert done.status_code == 200, done.text
        assert "Approved." in done.text
    else:
        assert done.status_code == 303, done.text
        assert done.headers["location"].startswith(return_url), done.headers
    return order_id


async def test_seed_001_handwork_booking_paid_with_paypal_end_to_end(ctx: Ctx) -> None:
    container = ctx.container
    assert container.settings.bookings_fee_bps == 500
    client_ = await payer(ctx)
    worker = person(ctx, await make_user(container, role="worker"))
    admin = person(ctx, await make_user(container, role="admin"))

    # 1. The client posts a job. The worker, with neither a payout account nor a PayPal
    # email, cannot apply; with their PayPal email saved, they can.
    job = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings/jobs",
        {"title": "Tile the bathroom", "currency": "usd", "budget": BOOKING},
    )
    apps = f"/v1/bookings/jobs/{job['id']}/applications"
    await refused(ctx, worker, "POST", apps, None, 409, "payee_account_missing")
    saved = await ok(ctx, worker, "POST", "/v1/payout_destination", {"paypal_email": EMAIL})
    assert saved["paypal_email"] == EMAIL
    application = await ok(ctx, worker, "POST", apps, {"message": "PayPal suits me."})

    # 2. Hiring with Stripe is refused (its release is a transfer to a payout account the
    # worker does not have); with PayPal the booking and its PayPal escrow are made.
    await refused(
        ctx,
        client_,
        "POST",
        "/v1/bookings",
        {"application": application["id"], "payment_provider": "stripe"},
        409,
        "payee_account_missing",
    )
    booking = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings",
        {"application": application["id"], "payment_provider": "paypal"},
    )
    assert (booking["status"], booking["platform_fee"], booking["worker_amount"]) == (
        "hired",
        FEE,
        WORKER_GETS,
    )
    payment = booking["payment"]
    assert (payment["status"], payment["provider"], payment["next_action"]) == (
        "pending",
        "paypal",
        None,
    )
    path = f"/v1/bookings/{booking['id']}"
    escrow_id = payment["escrow"]
    escrow = await ok(ctx, client_, "GET", f"/v1/escrows/{escrow_id}")
    assert escrow["payment_provider"] == "paypal"

    # 3. Paying with Stripe (or a card) is refused; the pay call answers with PayPal's page.
    error = await refused(
        ctx,
        client_,
        "POST",
        f"{path}/pay",
        {"payment_provider": "stripe", "payment_method": "pm_card_visa"},
        409,
        "payment_provider_mismatch",
    )
    assert error["param"] == "payment_provider"
    assert "'paypal'" in error["message"]
    error = await refused(
        ctx,
        client_,
        "POST",
        f"{path}/pay",
        {"payment_method": "pm_card_visa"},
        400,
        "payment_method_unsupported",
    )
    assert error["param"] == "payment_method"
    started = await ok(ctx, client_, "POST", f"{path}/pay", {"payment_provider": "paypal"})
    assert started["payment"]["next_action"]["type"] == "redirect_to_url"
    # Not approved yet: the work cannot be marked complete, and paying again is refused by
    # PayPal (the order waits for its payer); the booking is as it was.
    await refused(ctx, worker, "POST", f"{path}/complete", None, 409, "booking_not_paid")
    await refused(ctx, client_, "POST", f"{path}/pay", None, 400, "order_not_approved")
    waiting = await ok(ctx, client_, "GET", path)
    assert waiting["payment"]["next_action"] == started["payment"]["next_action"]
    # What PayPal's approval webhook enqueues, arriving before the client approved (a forged
    # or early event): escrowd asks PayPal, which says the order is not approved; nothing moves.
    order_id = httpx.URL(started["payment"]["next_action"]["url"]).params["token"]
    async with container.db.transaction() as s:
        await enqueue(
            s,
            clock=container.clock,
            kind=CONFIRM_PAYPAL_JOB,
            payload={"escrow_id": escrow_id, "order": order_id},
        )
    assert await run_jobs(container) >= 1
    still = await ok(ctx, client_, "GET", path)
    assert (still["payment"]["status"], still["payment"]["amount_held"]) == ("pending", 0)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0

    # 4. The client approves on PayPal's page; the approval webhook is a hint: escrowd reads
    # the order at PayPal and captures it. HELD.
    assert await approve_on_paypal(ctx, started) == order_id
    await settle(container)
    await run_jobs(container)
    held = await ok(ctx, client_, "GET", path)
    assert (held["payment"]["status"], held["payment"]["amount_held"]) == ("held", BOOKING)
    assert held["payment"]["next_action"] is None
    order = await paypal_of(ctx).client.get_order(order_id)
    assert (order.intent, order.status) == ("CAPTURE", "COMPLETED")
    assert order.purchase_units[0].custom_id == escrow_id
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == BOOKING

    # 5. The worker marks it complete; the client releases: the worker's available balance,
    # the platform's fee; PayPal's fee is the platform's processing cost.
    await ok(ctx, worker, "POST", f"{path}/complete")
    released = await ok(ctx, client_, "POST", f"{path}/release")
    await settle(container)
    assert (released["payment"]["status"], released["payment"]["amount_released"]) == (
        "released",
        BOOKING,
    )
    assert await usd(ctx, worker) == {"available": WORKER_GETS, "pending": 0, "in_transit": 0}
    # This escrow's own transfers (the suite's other tests share the platform's accounts, and
    # settling may book their leftovers too): the fee in, PayPal's fee borne by the platform.
    moved = await _moved_for(ctx, escrow_id)
    assert moved.get(("credit", PLATFORM_FEES)) == FEE
    paypal_fee = 573  # 3.49 % of $150.00 ($5.235, rounded to $5.24) + $0.49, the sandbox's
    assert moved.get(("debit", PROCESSING_COSTS)) == paypal_fee
    assert ("credit", PROCESSING_COSTS) not in moved
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0

    # 6. The worker requests a $100.00 payout to PayPal; an admin processes it: PayPal pays
    # the worker's email.
    payout = await ok(
        ctx,
        worker,
        "POST",
        "/v1/payouts",
        {"amount": PAYOUT, "currency": "usd", "provider": "paypal"},
    )
    assert (payout["status"], payout["provider"], payout["receiver_email"]) == (
        "requested",
        "paypal",
        EMAIL,
    )
    assert await usd(ctx, worker) == {
        "available": WORKER_GETS - PAYOUT,
        "pending": 0,
        "in_transit": PAYOUT,
    }
    await refused(
        ctx, worker, "POST", f"/v1/payouts/{payout['id']}/approve", None, 403, "admin_required"
    )
    paid = await ok(ctx, admin, "POST", f"/v1/payouts/{payout['id']}/approve")
    assert paid["status"] == "paid", paid
    item = await paypal_of(ctx).client.get_payout_item(paid["provider_payout"])
    assert item.payout_item.receiver == EMAIL
    assert (item.payout_item.amount.value, item.transaction_status) == ("100.00", "SUCCESS")
    assert await usd(ctx, worker) == {
        "available": WORKER_GETS - PAYOUT,
        "pending": 0,
        "in_transit": 0,
    }

    # 7. The summaries and the transaction history agree to the cent.
    summary = await ok(ctx, client_, "GET", "/v1/bookings/summary/client")
    assert summary["totals"] == [
        {
            "currency": "usd",
            "bookings": 1,
            "paid": BOOKING,
            "held": 0,
            "released": BOOKING,
            "refunded": 0,
        }
    ]
    earnings = await ok(ctx, worker, "GET", "/v1/bookings/earnings/worker")
    assert earnings["totals"] == [
        {
            "currency": "usd",
            "bookings": 1,
            "completed": 1,
            "released": BOOKING,
            "platform_fees": FEE,
            "earned": WORKER_GETS,
            "pending": 0,
            "available": WORKER_GETS - PAYOUT,
            "in_transit": 0,
        }
    ]
    worker_txns = await ok(ctx, worker, "GET", "/v1/transactions")
    assert sorted((t["type"], t["amount"]) for t in worker_txns["data"]) == [
        ("earning", WORKER_GETS),
        ("payout", -PAYOUT),
    ]
    client_txns = await ok(ctx, client_, "GET", "/v1/transactions")
    assert [(t["type"], t["amount"]) for t in client_txns["data"]] == [("payment", -BOOKING)]

    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def test_seed_001_paypal_booking_held_by_the_clients_second_pay_call(ctx: Ctx) -> None:
    """Without waiting for PayPal's webhook: the client comes back from PayPal's page and
    pays again; escrowd captures the approved order then."""
    container = ctx.container
    client_ = await payer(ctx)
    worker = person(ctx, await make_user(container, role="worker"))
    await ok(ctx, worker, "POST", "/v1/payout_destination", {"paypal_email": EMAIL})
    job = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings/jobs",
        {"title": "Fix the gate", "currency": "usd", "budget": BOOKING},
    )
    application = await ok(ctx, worker, "POST", f"/v1/bookings/jobs/{job['id']}/applications")
    booking = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings",
        {"application": application["id"], "payment_provider": "paypal"},
    )
    path = f"/v1/bookings/{booking['id']}"
    back = "https://handwork.example/paid"
    started = await ok(ctx, client_, "POST", f"{path}/pay", {"return_url": back})
    await approve_on_paypal(ctx, started, return_url=back)
    status, held = await call(ctx, client_, "POST", f"{path}/pay")
    assert status == 200, held
    assert (held["payment"]["status"], held["payment"]["amount_held"]) == ("held", BOOKING)
    # Paid once: a third call has nothing to pay.
    again, out = await call(ctx, client_, "POST", f"{path}/pay")
    assert again == 409, out
    await settle(container)
    await run_jobs(container)
    assert (await ok(ctx, client_, "GET", path))["payment"]["amount_held"] == BOOKING
    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def _moved_for(ctx: Ctx, escrow_id: str) -> dict[tuple[str, str], int]:
    """What the escrow's own ledger transfers moved, per (side, account code)."""
    debit, credit = aliased(LedgerAccount), aliased(LedgerAccount)
    async with ctx.container.db.transaction() as s:
        rows = await s.execute(
            select(debit.code, credit.code, LedgerTransfer.amount)
            .join(debit, debit.id == LedgerTransfer.debit_account_id)
            .join(credit, credit.id == LedgerTransfer.credit_account_id)
            .where(LedgerTransfer.reference == escrow_id)
        )
        moved: dict[tuple[str, str], int] = {}
        for d, c, amount in rows:
            moved[("debit", d)] = moved.get(("debit", d), 0) + amount
            moved[("credit", c)] = moved.get(("credit", c), 0) + amount
        return moved
