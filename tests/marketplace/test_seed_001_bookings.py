"""Seed 001, the handwork marketplace: post, apply, hire, pay, complete, release, payout,
walked through the HTTP API on the Stripe sandbox.

The seed's numbers: a $150.00 booking, the platform fee 5 % ($7.50, ESCROWD_BOOKINGS_FEE_BPS
500), the worker's amount $142.50; a $100.00 payout request; a $75.00 partial refund. Stripe's
2.9 % + 30¢ ($4.65 on $150.00) is the platform's cost: the worker gets exactly the booking
less the platform fee, as the seed's ``worker_amount`` says.

The main path: a client posts a job, two workers apply, the client hires one (the other is
declined) → a booking with its escrow (Stripe, the default); paying it with PayPal is refused
with a clear error; the client pays with the 4242 card → HELD; release before completion is
refused; the worker marks it complete; the client releases → the worker's available balance
is $142.50, the platform's fee account $7.50 up; the worker requests a $100.00 payout, an
admin approves it, it is paid → $42.50 available. The summaries and the core's transaction
history agree to the cent. (Paid with PayPal: test_seed_001_bookings_paypal.py.)

The dispute path: on a second booking the worker marks it complete, the client opens a
dispute (the payment shows DISPUTED, release is refused), the worker adds evidence, an admin
resolves it with a $75.00 partial refund, the client releases the rest ($75.00 less 5 %:
$71.25 to the worker). The ledger verifies after both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import select

from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS
from escrowd.escrows.models import Escrow
from escrowd.ledger.verify import summary_lines, verify
from escrowd.marketplace.bookings.models import Booking
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    Sandbox,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    keyed,
    ledger_balance,
    mount,
    payer,
    person,
    quiet,
    settle,
)
from tests.escrows.conftest import client as client
from tests.escrows.conftest import container as container
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account, make_user
from tests.payouts.conftest import days_pass, onboarded_payee

BOOKING = 15_000  # $150.00, the seed's booking amount
FEE = 750  # 5 % of $150.00
WORKER_GETS = BOOKING - FEE  # $142.50
STRIPE_FEE = 435 + 30  # 2.9 % of $150.00 + 30¢: the platform's cost
PAYOUT = 10_000  # $100.00, the seed's payout request
PARTIAL_REFUND = 7_500  # $75.00, the seed's partial refund
REST_FEE = 375  # 5 % of the $75.00 released after the partial refund

Json = dict[str, Any]


async def call(
    ctx: Ctx, who: Account | dict[str, str], method: str, path: str, body: Json | None = None
) -> tuple[int, Json]:
    headers = who if isinstance(who, dict) else who.headers
    if method == "POST":
        headers = keyed(headers)
    r = await ctx.client.request(method, path, json=body, headers=headers)
    out: Json = r.json()
    return r.status_code, out


async def ok(
    ctx: Ctx, who: Account | dict[str, str], method: str, path: str, body: Json | None = None
) -> Json:
    status, out = await call(ctx, who, method, path, body)
    assert status == 200, out
    return out


async def refused(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None, status: int, code: str
) -> Json:
    got, out = await call(ctx, who, method, path, body)
    assert (got, out.get("error", {}).get("code")) == (status, code), out
    error: Json = out["error"]
    return error


async def usd(ctx: Ctx, who: Account) -> dict[str, int]:
    found = await ok(ctx, who, "GET", "/v1/balance")
    return {
        figure: sum(b["amount"] for b in found[figure] if b["currency"] == "usd")
        for figure in ("available", "pending", "in_transit")
    }


async def hired(ctx: Ctx, client_: Person, worker: Person, title: str) -> Json:
    job = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings/jobs",
        {"title": title, "currency": "usd", "budget": BOOKING},
    )
    application = await ok(ctx, worker, "POST", f"/v1/bookings/jobs/{job['id']}/applications")
    return await ok(ctx, client_, "POST", "/v1/bookings", {"application": application["id"]})


async def test_seed_001_handwork_booking_end_to_end(ctx: Ctx, sandbox: Sandbox) -> None:
    container = ctx.container
    assert container.settings.bookings_fee_bps == 500
    client_ = await payer(ctx)
    worker = await onboarded_payee(ctx)
    rival = await onboarded_payee(ctx)
    admin = person(ctx, await make_user(container, role="admin"))
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    costs_before = await ledger_balance(ctx, PROCESSING_COSTS)

    # 1. The client posts a job; workers find it on the board and apply.
    job = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings/jobs",
        {
            "title": "Fix the kitchen sink",
            "description": "Leaking under the basin.",
            "currency": "usd",
            "budget": BOOKING,
        },
    )
    assert (job["status"], job["budget"], job["client"]) == ("open", BOOKING, client_.id)
    board = await ok(ctx, worker, "GET", "/v1/bookings/jobs?status=open")
    assert job["id"] in [j["id"] for j in board["data"]]
    apps = f"/v1/bookings/jobs/{job['id']}/applications"
    mine = await ok(ctx, worker, "POST", apps, {"message": "I can come tomorrow."})
    theirs = await ok(ctx, rival, "POST", apps, {"amount": 14_000})
    assert (mine["status"], mine["amount"], mine["currency"]) == ("pending", BOOKING, "usd")
    await refused(ctx, worker, "POST", apps, None, 409, "already_applied")
    seen_by_client = await ok(ctx, client_, "GET", apps)
    assert {a["id"] for a in seen_by_client["data"]} == {mine["id"], theirs["id"]}
    seen_by_rival = await ok(ctx, rival, "GET", apps)
    assert [a["id"] for a in seen_by_rival["data"]] == [theirs["id"]]

    # 2. The client hires the worker: a booking, with an escrow waiting for the payment.
    await refused(
        ctx, worker, "POST", "/v1/bookings", {"application": mine["id"]}, 404, "resource_missing"
    )
    booking = await ok(ctx, client_, "POST", "/v1/bookings", {"application": mine["id"]})
    assert (booking["status"], booking["amount"], booking["worker"]) == (
        "hired",
        BOOKING,
        worker.id,
    )
    assert (booking["fee_bps"], booking["platform_fee"], booking["worker_amount"]) == (
        500,
        FEE,
        WORKER_GETS,
    )
    assert booking["payment"]["status"] == "pending"
    path = f"/v1/bookings/{booking['id']}"
    escrow_id = booking["payment"]["escrow"]
    assert (await ok(ctx, worker, "GET", f"/v1/bookings/jobs/{job['id']}"))["status"] == "filled"
    assert {a["id"]: a["status"] for a in (await ok(ctx, client_, "GET", apps))["data"]} == {
        mine["id"]: "hired",
        theirs["id"]: "declined",
    }
    await refused(ctx, rival, "GET", path, None, 404, "resource_missing")
    await refused(ctx, rival, "POST", apps, None, 409, "job_filled")

    # 3. The client pays with Stripe's 4242 card, the provider hired with (the default):
    # paying this booking with PayPal is refused, saying which provider it was hired with.
    assert booking["payment"]["provider"] == "stripe"
    error = await refused(
        ctx,
        client_,
        "POST",
        f"{path}/pay",
        {"payment_provider": "paypal"},
        409,
        "payment_provider_mismatch",
    )
    assert error["param"] == "payment_provider"
    assert "'stripe'" in error["message"]
    await refused(ctx, worker, "POST", f"{path}/complete", None, 409, "booking_not_paid")
    await refused(
        ctx,
        worker,
        "POST",
        f"{path}/pay",
        {"payment_method": "pm_card_visa"},
        403,
        "booking_client_required",
    )
    paid = await ok(
        ctx,
        client_,
        "POST",
        f"{path}/pay",
        {"payment_method": "pm_card_visa", "payment_provider": "stripe"},
    )
    await settle(container)
    assert paid["payment"]["status"] == "held"
    assert (paid["payment"]["provider"], paid["payment"]["amount_held"]) == ("stripe", BOOKING)
    escrow = await ok(ctx, client_, "GET", f"/v1/escrows/{escrow_id}")
    assert (escrow["status"], escrow["payment"]["processing_fee"]) == ("held", STRIPE_FEE)
    assert (escrow["allocations"][0]["platform_fee"], escrow["allocations"][0]["net"]) == (
        FEE,
        WORKER_GETS,
    )

    # 4. The client cannot release before the work is done; the worker marks it complete.
    await refused(ctx, client_, "POST", f"{path}/release", None, 409, "booking_not_completed")
    await refused(ctx, client_, "POST", f"{path}/complete", None, 403, "booking_worker_required")
    done = await ok(ctx, worker, "POST", f"{path}/complete")
    assert (done["status"], done["payment"]["status"]) == ("completed", "held")
    assert done["completed"] is not None
    await refused(ctx, worker, "POST", f"{path}/release", None, 403, "booking_client_required")

    # 5. The client releases: the worker's available balance, the platform's fee.
    released = await ok(ctx, client_, "POST", f"{path}/release")
    await settle(container)
    assert released["payment"]["status"] == "released"
    assert released["payment"]["amount_released"] == BOOKING
    assert await usd(ctx, worker) == {"available": WORKER_GETS, "pending": 0, "in_transit": 0}
    (transfer,) = await sandbox.transfers(escrow_id)
    assert transfer["amount"] == WORKER_GETS
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == FEE
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == STRIPE_FEE

    # 6. The worker requests a $100.00 payout; an admin processes (approves) it; it is paid.
    await days_pass(ctx, 2)  # the connected account's money becomes payable at Stripe
    payout = await ok(ctx, worker, "POST", "/v1/payouts", {"amount": PAYOUT, "currency": "usd"})
    assert payout["status"] == "requested"
    assert await usd(ctx, worker) == {
        "available": WORKER_GETS - PAYOUT,
        "pending": 0,
        "in_transit": PAYOUT,
    }
    await refused(
        ctx, worker, "POST", f"/v1/payouts/{payout['id']}/approve", None, 403, "admin_required"
    )
    approved = await ok(ctx, admin, "POST", f"/v1/payouts/{payout['id']}/approve")
    assert approved["status"] == "in_transit"
    await days_pass(ctx, 2)
    assert (await ok(ctx, worker, "GET", f"/v1/payouts/{payout['id']}"))["status"] == "paid"
    assert await usd(ctx, worker) == {
        "available": WORKER_GETS - PAYOUT,
        "pending": 0,
        "in_transit": 0,
    }

    # 7. The summaries, and the core's transaction history.
    summary = await ok(ctx, client_, "GET", "/v1/bookings/summary/client")
    assert (summary["jobs_posted"], summary["jobs_open"]) == (1, 0)
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
    assert earnings["applications"] == 1
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
    listed = await ok(ctx, worker, "GET", "/v1/bookings")
    assert [b["id"] for b in listed["data"]] == [booking["id"]]

    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def test_seed_001_dispute_partial_refund_then_release(ctx: Ctx) -> None:
    container = ctx.container
    client_ = await payer(ctx)
    worker = await onboarded_payee(ctx)
    admin = person(ctx, await make_user(container, role="admin"))
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    booking = await hired(ctx, client_, worker, "Paint the fence")
    path = f"/v1/bookings/{booking['id']}"
    escrow_id = booking["payment"]["escrow"]
    await ok(ctx, client_, "POST", f"{path}/pay", {"payment_method": "pm_card_visa"})
    await settle(container)
    await ok(ctx, worker, "POST", f"{path}/complete")

    # The client disputes (the core's disputes, on the booking's escrow): the payment is
    # DISPUTED and cannot be released meanwhile.
    dispute = await ok(
        ctx,
        client_,
        "POST",
        "/v1/disputes",
        {
            "escrow": escrow_id,
            "reason": "incomplete",
            "description": "The worker did not complete all tasks specified in the job",
        },
    )
    assert dispute["status"] == "open"
    shown = await ok(ctx, worker, "GET", path)
    assert shown["payment"]["status"] == "disputed"
    got, out = await call(ctx, client_, "POST", f"{path}/release")
    assert got == 409, out
    # The worker, the other party, answers with evidence; only an admin resolves.
    await ok(ctx, worker, "POST", f"/v1/disputes/{dispute['id']}/evidence", {"note": "Half done."})
    await refused(
        ctx,
        worker,
        "POST",
        f"/v1/disputes/{dispute['id']}/resolve",
        {"outcome": "refund"},
        403,
        "admin_required",
    )
    resolved = await ok(
        ctx,
        admin,
        "POST",
        f"/v1/disputes/{dispute['id']}/resolve",
        {
            "outcome": "partial_refund",
            "refund_amount": PARTIAL_REFUND,
            "notes": "Half the fence was painted.",
        },
    )
    await settle(container)
    assert resolved["status"] == "resolved"
    after = await ok(ctx, client_, "GET", path)
    assert (after["payment"]["status"], after["payment"]["amount_refunded"]) == (
        "held",
        PARTIAL_REFUND,
    )
    assert after["payment"]["amount_held"] == BOOKING - PARTIAL_REFUND

    # The client releases the rest: $75.00 less 5 %.
    released = await ok(ctx, client_, "POST", f"{path}/release")
    await settle(container)
    assert released["payment"]["status"] == "released"
    assert await usd(ctx, worker) == {
        "available": PARTIAL_REFUND - REST_FEE,
        "pending": 0,
        "in_transit": 0,
    }
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == REST_FEE
    summary = await ok(ctx, client_, "GET", "/v1/bookings/summary/client")
    assert summary["totals"] == [
        {
            "currency": "usd",
            "bookings": 1,
            "paid": BOOKING,
            "held": 0,
            "released": BOOKING - PARTIAL_REFUND,
            "refunded": PARTIAL_REFUND,
        }
    ]
    earnings = await ok(ctx, worker, "GET", "/v1/bookings/earnings/worker")
    (totals,) = earnings["totals"]
    assert (totals["released"], totals["platform_fees"], totals["earned"]) == (
        BOOKING - PARTIAL_REFUND,
        REST_FEE,
        PARTIAL_REFUND - REST_FEE,
    )

    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def test_seed_001_the_worker_can_dispute_too(ctx: Ctx) -> None:
    """Either party opens a dispute: the worker (the escrow's payee) too; an admin resolves
    it in the worker's favour and the money is released to them."""
    container = ctx.container
    client_ = await payer(ctx)
    worker = await onboarded_payee(ctx)
    admin = person(ctx, await make_user(container, role="admin"))
    booking = await hired(ctx, client_, worker, "Hang the shelves")
    path = f"/v1/bookings/{booking['id']}"
    await ok(ctx, client_, "POST", f"{path}/pay", {"payment_method": "pm_card_visa"})
    await settle(container)
    await ok(ctx, worker, "POST", f"{path}/complete")
    dispute = await ok(
        ctx,
        worker,
        "POST",
        "/v1/disputes",
        {"escrow": booking["payment"]["escrow"], "reason": "other", "description": "Not paid."},
    )
    assert (await ok(ctx, client_, "GET", path))["payment"]["status"] == "disputed"
    await ok(ctx, admin, "POST", f"/v1/disputes/{dispute['id']}/resolve", {"outcome": "release"})
    await settle(container)
    assert (await ok(ctx, worker, "GET", path))["payment"]["status"] == "released"
    assert (await usd(ctx, worker))["available"] == WORKER_GETS
    report = await verify(container.db)
    assert report.ok, summary_lines(report)


# --- concurrent hires ---------------------------------------------------------------------------


async def test_of_concurrent_hires_for_one_job_exactly_one_booking_and_one_escrow_exist(
    own: Ctx,
) -> None:
    ctx = own
    client_ = await payer(ctx)
    workers = [await onboarded_payee(ctx) for _ in range(6)]
    job = await ok(
        ctx,
        client_,
        "POST",
        "/v1/bookings/jobs",
        {"title": "Contested", "currency": "usd", "budget": BOOKING},
    )
    applications = [
        await ok(ctx, w, "POST", f"/v1/bookings/jobs/{job['id']}/applications") for w in workers
    ]

    async def hire(application: Json) -> tuple[int, str]:
        status, body = await call(
            ctx, client_, "POST", "/v1/bookings", {"application": application["id"]}
        )
        return status, body["status"] if status == 200 else body["error"]["code"]

    results = await asyncio.gather(*(hire(a) for a in applications))
    assert Counter(results) == {(200, "hired"): 1, (409, "job_filled"): 5}
    async with ctx.container.db.transaction() as s:
        escrows = (await s.scalars(select(Escrow))).all()
        bookings = (await s.scalars(select(Booking))).all()
    assert len(escrows) == len(bookings) == 1
    assert escrows[0].meta["booking"] == bookings[0].id
