"""Seed 000, PeerTest Hub: a job marketplace with tester slots, walked through the HTTP API.

The seed's numbers: a budget of $100.00 per tester; the platform keeps 15 % ($15.00); the
tester bears a 3 % processing cost on the $85.00 the fee leaves ($2.55) and receives
**$82.45**. The jobs' escrows carry that fee policy (`rate_bps` 1500, payee-borne `flat_rate`
300 bps on `after_platform_fee`); Stripe's own 2.9 % + 30¢ on each charge is the platform's.

One scenario, two jobs of two $100.00 slots each, on the Stripe sandbox (4242 card):

- job A: tester 1 claims, submits, the client approves → $82.45 to tester 1 ("payment
  received"); tester 3 claims, submits, the client rejects, tester 3 disputes the rejection,
  an admin releases → $82.45 to tester 3; every slot paid → the job is completed;
- job B: tester 2 claims, submits, the client disputes the submission, an admin refunds
  $40.00 of it, the client approves the rest → $49.47 to tester 2; the client cancels the
  job → the unclaimed slot's $100.00 is refunded (1 of 2 slots: half the budget).

Every balance to the cent (the testers', the sandbox's transfers and refunds, the platform's
fee account), then ``escrowd ledger verify``. Separate tests: the Starter plan's 6th publish
of the month is refused; the 6th publish attempt in a minute is refused with 429 and
``Retry-After`` and allowed after the window; two server processes share the limiter.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ulid import ULID

from escrowd.api import rate_limit
from escrowd.bootstrap import build
from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.errors import RateLimitError
from escrowd.escrows.ledgering import PLATFORM_FEES
from escrowd.ledger.verify import summary_lines, verify
from escrowd.marketplace.jobs import sweeps as job_sweeps
from escrowd.marketplace.jobs.routes import PUBLISH_RATE
from escrowd.notifications import sweep as notification_sweep
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
    run_jobs,
    settle,
    sweep,
    verified_payee,
)
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account, make_user

BUDGET = 10_000  # $100.00 per tester, the seed's job budget
FEE = 1_500  # 15 %
PROCESSING = 255  # 3 % of the $85.00 the fee leaves
NET = 8_245  # $82.45, the seed's "tester net"
PARTIAL_REFUND = 4_000  # the admin gives the client $40.00 of a disputed $100.00 slot
# The $60.00 left of that slot: 60 % of each figure (the refunded 40 % takes 600 + 102 + 3298).
REST_NET = 4_947  # 8245 − 3298
REST_FEE = 900

Json = dict[str, Any]


async def call(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None, *, key: bool = False
) -> httpx.Response:
    headers = keyed(who.headers) if key else who.headers
    return await ctx.client.request(method, path, json=body, headers=headers)


async def ok(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None, **kw: Any
) -> Json:
    r = await call(ctx, who, method, path, body, **kw)
    assert r.status_code == 200, r.text
    out: Json = r.json()
    return out


async def refused(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None, status: int, code: str
) -> Json:
    r = await call(ctx, who, method, path, body, key=True)
    assert r.status_code == status, r.text
    error: Json = r.json()["error"]
    assert error["code"] == code, error
    return error


async def follow(ctx: Ctx) -> None:
    """What the worker does in the background: webhooks, jobs, the slots' sweep, notices."""
    await settle(ctx.container)
    await run_jobs(ctx.container)
    await sweep(ctx.container, job_sweeps.follow)
    await sweep(ctx.container, notification_sweep.notify)


async def balance(ctx: Ctx, who: Account) -> int:
    found = await ok(ctx, who, "GET", "/v1/balance")
    usd = [b["amount"] for b in found["available"] if b["currency"] == "usd"]
    return usd[0] if usd else 0


async def draft(ctx: Ctx, client: Account, title: str, testers: int = 2) -> Json:
    job = await ok(
        ctx,
        client,
        "POST",
        "/v1/jobs",
        {"title": title, "currency": "usd", "budget_per_tester": BUDGET, "max_testers": testers},
    )
    assert (job["status"], job["total_budget"], job["escrow"]) == ("draft", BUDGET * testers, None)
    return job


async def publish(ctx: Ctx, client: Account, job: Json, pm: str = "pm_card_visa") -> Json:
    return await ok(
        ctx, client, "POST", f"/v1/jobs/{job['id']}/publish", {"payment_method": pm}, key=True
    )


async def claim_and_submit(ctx: Ctx, tester: Account, job_id: str) -> Json:
    slot = await ok(ctx, tester, "POST", f"/v1/jobs/{job_id}/claim")
    assert (slot["status"], slot["tester"]) == ("claimed", tester.id)
    done = await ok(
        ctx,
        tester,
        "POST",
        f"/v1/jobs/{job_id}/slots/{slot['id']}/submit",
        {"submission": "Found 3 bugs; report attached."},
    )
    assert done["status"] == "submitted"
    return done


async def resolve(ctx: Ctx, admin: Account, dispute_id: str, body: Json) -> Json:
    return await ok(ctx, admin, "POST", f"/v1/disputes/{dispute_id}/resolve", body, key=True)


async def test_seed_000_job_marketplace_end_to_end(ctx: Ctx, sandbox: Sandbox) -> None:
    client = await payer(ctx)
    t1, t2, t3 = [person(ctx, await verified_payee(ctx)) for _ in range(3)]
    admin = await make_user(ctx.container, role="admin")
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)

    # --- job A: approve one slot, dispute a rejection of the other --------------------------
    a = await draft(ctx, client, "Test our checkout")
    # A draft is its client's alone; testers cannot claim it.
    await refused(ctx, t1, "GET", f"/v1/jobs/{a['id']}", None, 404, "resource_missing")
    a = await publish(ctx, client, a)
    assert a["status"] == "open"
    escrow_a = await ok(ctx, client, "GET", f"/v1/escrows/{a['escrow']}")
    assert (escrow_a["status"], escrow_a["amount"], escrow_a["payer"]) == (
        "held",
        2 * BUDGET,
        client.id,
    )
    assert [(x["payee"], x["amount"]) for x in escrow_a["allocations"]] == [(None, BUDGET)] * 2
    assert [s["status"] for s in a["slots"]] == ["open", "open"]
    assert escrow_a["payment"]["processing_fee"] == 580 + 30  # Stripe: 2.9 % + 30¢ of $200

    s1 = await claim_and_submit(ctx, t1, a["id"])
    # One slot per tester.
    await refused(ctx, t1, "POST", f"/v1/jobs/{a['id']}/claim", None, 409, "slot_already_claimed")
    # Only the client reviews.
    await refused(
        ctx,
        t1,
        "POST",
        f"/v1/jobs/{a['id']}/slots/{s1['id']}/approve",
        {},
        403,
        "job_client_required",
    )
    approved = await ok(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{a['id']}/slots/{s1['id']}/approve",
        {"feedback": "Great report"},
        key=True,
    )
    assert approved["status"] == "paid"
    await follow(ctx)
    assert await balance(ctx, t1) == NET
    alloc1 = next(
        x
        for x in (await ok(ctx, client, "GET", f"/v1/escrows/{a['escrow']}"))["allocations"]
        if x["id"] == s1["allocation"]
    )
    assert (alloc1["payee"], alloc1["platform_fee"], alloc1["processing_cost"], alloc1["net"]) == (
        t1.id,
        FEE,
        PROCESSING,
        NET,
    )
    # "Payment received": the tester is told the $82.45 reached their balance.
    notes = await ok(ctx, t1, "GET", "/v1/notifications?limit=100")
    received = [n for n in notes["data"] if n["related_object"]["id"] == s1["allocation"]]
    assert [n["type"] for n in received] == ["payment_released"]
    assert received[0]["title"] == "82.45 USD was released to you"

    # Someone without a slot sees the job and its slots' states, not who holds them nor
    # the escrow; the client sees everything.
    seen = await ok(ctx, t2, "GET", f"/v1/jobs/{a['id']}")
    assert seen["escrow"] is None
    assert [(s["status"], s["tester"], s["allocation"]) for s in seen["slots"]] == [
        ("paid", None, None),
        ("open", None, None),
    ]
    mine = await ok(ctx, client, "GET", f"/v1/jobs/{a['id']}")
    assert (mine["escrow"], mine["slots"][0]["tester"]) == (a["escrow"], t1.id)

    s3 = await claim_and_submit(ctx, t3, a["id"])
    await refused(ctx, t2, "POST", f"/v1/jobs/{a['id']}/claim", None, 409, "job_full")
    rejected = await ok(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{a['id']}/slots/{s3['id']}/reject",
        {"feedback": "Not enough detail"},
    )
    assert rejected["status"] == "rejected"
    disputed = await ok(
        ctx,
        t3,
        "POST",
        f"/v1/jobs/{a['id']}/slots/{s3['id']}/dispute",
        {"reason": "other", "description": "The report covers every step asked for."},
    )
    assert disputed["status"] == "disputed"
    assert disputed["dispute"].startswith("dsp_")
    await resolve(ctx, admin, disputed["dispute"], {"outcome": "release"})
    await follow(ctx)
    a = await ok(ctx, client, "GET", f"/v1/jobs/{a['id']}")
    assert [s["status"] for s in a["slots"]] == ["paid", "paid"]
    assert a["status"] == "completed"
    assert await balance(ctx, t3) == NET
    assert sorted(t["amount"] for t in await sandbox.transfers(a["escrow"])) == [NET, NET]
    assert (await ok(ctx, client, "GET", f"/v1/escrows/{a['escrow']}"))["status"] == "released"

    # --- job B: the client disputes a submission, then cancels ------------------------------
    b = await publish(ctx, client, await draft(ctx, client, "Test our onboarding"))
    s2 = await claim_and_submit(ctx, t2, b["id"])
    disputed = await ok(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{b['id']}/slots/{s2['id']}/dispute",
        {"reason": "quality", "description": "Half the steps were skipped."},
    )
    # While disputed, the slot is frozen, and the job cannot be cancelled.
    await refused(ctx, client, "POST", f"/v1/jobs/{b['id']}/cancel", None, 409, "job_disputed")
    assert (await ok(ctx, client, "GET", f"/v1/jobs/{b['id']}"))["status"] == "open"
    await refused(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{b['id']}/slots/{s2['id']}/approve",
        {},
        409,
        "slot_state_conflict",
    )
    await resolve(
        ctx,
        admin,
        disputed["dispute"],
        {"outcome": "partial_refund", "refund_amount": PARTIAL_REFUND},
    )
    await follow(ctx)
    b = await ok(ctx, client, "GET", f"/v1/jobs/{b['id']}")
    assert [s["status"] for s in b["slots"]] == ["submitted", "open"]
    await ok(ctx, client, "POST", f"/v1/jobs/{b['id']}/slots/{s2['id']}/approve", key=True)
    b = await ok(ctx, client, "POST", f"/v1/jobs/{b['id']}/cancel", key=True)
    assert b["status"] == "cancelled"
    assert [s["status"] for s in b["slots"]] == ["paid", "refunded"]
    await follow(ctx)
    assert await balance(ctx, t2) == REST_NET
    escrow_b = await ok(ctx, client, "GET", f"/v1/escrows/{b['escrow']}")
    assert (escrow_b["amount_released"], escrow_b["amount_refunded"]) == (
        BUDGET - PARTIAL_REFUND,
        PARTIAL_REFUND + BUDGET,
    )
    assert [t["amount"] for t in await sandbox.transfers(b["escrow"])] == [REST_NET]
    refunds = await sandbox.refunds(escrow_b["payment"]["id"])
    assert sorted(r["amount"] for r in refunds) == [PARTIAL_REFUND, BUDGET]
    await refused(ctx, t1, "POST", f"/v1/jobs/{b['id']}/claim", None, 409, "job_not_open")

    # The platform kept 15 % of what reached testers: $15.00 + $15.00 + $9.00.
    assert fees_before - await ledger_balance(ctx, PLATFORM_FEES) == -(FEE + FEE + REST_FEE)

    report = await verify(ctx.container.db)
    assert report.ok, summary_lines(report)


# --- the Starter plan: 5 published jobs a month -----------------------------------------------


async def test_the_starter_plans_sixth_publish_of_the_month_is_refused(ctx: Ctx) -> None:
    clock = ctx.container.clock
    assert isinstance(clock, FrozenClock)
    client = await payer(ctx)
    for i in range(5):
        job = await publish(ctx, client, await draft(ctx, client, f"Job {i + 1}", testers=1))
        assert job["status"] == "open"
        clock.advance(timedelta(seconds=13))  # stay under the publish rate limit
    sixth = await draft(ctx, client, "Job 6", testers=1)
    error = await refused(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{sixth['id']}/publish",
        {"payment_method": "pm_card_visa"},
        409,
        "plan_limit_reached",
    )
    assert error["param"] == "limit"
    assert "Starter plan allows 5 published jobs per month" in error["message"], error
    assert "Upgrade to the Pro plan" in error["message"], error
    # Nothing was paid or created for it: still a draft, no escrow.
    still = await ok(ctx, client, "GET", f"/v1/jobs/{sixth['id']}")
    assert (still["status"], still["escrow"], still["slots"]) == ("draft", None, [])
    usage = await ok(ctx, client, "POST", "/v1/limits/check", {"limit": "published_jobs_per_month"})
    assert (usage["used"], usage["maximum"], usage["allowed"]) == (5, 5, False)


async def test_a_declined_publish_retried_counts_once_against_the_plan(ctx: Ctx) -> None:
    client = await payer(ctx)
    job = await draft(ctx, client, "Declined first", testers=1)
    await refused(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{job['id']}/publish",
        {"payment_method": "pm_card_chargeDeclined"},
        402,
        "generic_decline",
    )
    assert (await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}"))["status"] == "draft"
    assert (await publish(ctx, client, job))["status"] == "open"
    usage = await ok(ctx, client, "POST", "/v1/limits/check", {"limit": "published_jobs_per_month"})
    assert usage["used"] == 1


# --- the publish rate limit: 5 attempts a minute per user -------------------------------------


async def test_the_sixth_publish_attempt_in_a_minute_is_refused_until_the_window_passes(
    ctx: Ctx,
) -> None:
    clock = ctx.container.clock
    assert isinstance(clock, FrozenClock)
    client = await payer(ctx)
    job = await draft(ctx, client, "Rate limited", testers=1)
    path = f"/v1/jobs/{job['id']}/publish"
    # Five attempts with a declined card in 50 seconds: each is an attempt, each counts.
    for _ in range(5):
        await refused(
            ctx,
            client,
            "POST",
            path,
            {"payment_method": "pm_card_chargeDeclined"},
            402,
            "generic_decline",
        )
        clock.advance(timedelta(seconds=10))
    r = await call(ctx, client, "POST", path, {"payment_method": "pm_card_visa"}, key=True)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert r.json()["error"]["code"] == "rate_limited"
    # The first attempt leaves the window 60 s after it was made: 10 s from now.
    assert r.headers["Retry-After"] == "10"
    assert (await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}"))["status"] == "draft"
    # Another user is not limited by this one's attempts.
    other = await payer(ctx)
    assert (await publish(ctx, other, await draft(ctx, other, "Other", testers=1)))[
        "status"
    ] == "open"
    clock.advance(timedelta(seconds=9))
    r = await call(ctx, client, "POST", path, {"payment_method": "pm_card_visa"}, key=True)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1"), r.text
    clock.advance(timedelta(seconds=1))
    assert (await publish(ctx, client, job))["status"] == "open"


async def test_server_processes_sharing_a_database_share_the_rate_limit(
    settings: Settings, clock: FrozenClock
) -> None:
    """Two containers (as two server processes would have) on the same database."""
    one, two = build(settings, clock=clock), build(settings, clock=clock)
    who = f"usr_{ULID()}"
    try:
        for i in range(5):
            await rate_limit.hit(
                (one if i % 2 else two).db, clock=clock, limit=PUBLISH_RATE, who=who
            )
        for c in (one, two):
            with pytest.raises(RateLimitError) as refused_:
                await rate_limit.hit(c.db, clock=clock, limit=PUBLISH_RATE, who=who)
            assert refused_.value.http_status == 429
            assert refused_.value.headers == {"Retry-After": "60"}
        clock.advance(PUBLISH_RATE.window)
        await rate_limit.hit(one.db, clock=clock, limit=PUBLISH_RATE, who=who)
    finally:
        await one.close()
        await two.close()


# --- concurrent claims ---------------------------------------------------------------------


async def test_of_concurrent_claims_each_slot_goes_to_exactly_one_tester(own: Ctx) -> None:
    ctx = own
    client = await payer(ctx)
    testers = [await verified_payee(ctx) for _ in range(6)]
    job = await publish(ctx, client, await draft(ctx, client, "Contested", testers=3))

    async def claim(who: Account) -> tuple[int, str]:
        r = await ctx.client.post(f"/v1/jobs/{job['id']}/claim", headers=who.headers)
        body = r.json()
        return r.status_code, body["status"] if r.status_code == 200 else body["error"]["code"]

    results = await asyncio.gather(*(claim(t) for t in testers))
    assert Counter(results) == {(200, "claimed"): 3, (409, "job_full"): 3}
    shown = await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}")
    holders = [s["tester"] for s in shown["slots"]]
    assert len(set(holders)) == 3
    assert set(holders) <= {t.id for t in testers}
    escrow = await ok(ctx, client, "GET", f"/v1/escrows/{job['escrow']}")
    assert sorted(a["payee"] for a in escrow["allocations"]) == sorted(holders)


async def test_a_job_paid_with_3d_secure_opens_once_the_payer_completes_it(ctx: Ctx) -> None:
    client = await payer(ctx)
    job = await draft(ctx, client, "Paid after 3-D Secure", testers=1)
    first = await publish(ctx, client, job, pm="pm_card_threeDSecureRequired")
    assert (first["status"], first["published"]) == ("draft", None)
    escrow = await ok(ctx, client, "GET", f"/v1/escrows/{first['escrow']}")
    assert escrow["status"] == "requires_action"
    page = httpx.URL(escrow["next_action"]["url"])
    done = await ctx.client.post(
        page.raw_path.decode(), data={"token": page.params["token"], "outcome": "complete"}
    )
    # Publishing takes no return URL: the sandbox's page says how authentication ended.
    assert done.status_code == 200, done.text
    assert "succeeded" in done.text
    await settle(ctx.container)  # the payment's webhook funds the escrow
    assert (await ok(ctx, client, "GET", f"/v1/escrows/{first['escrow']}"))["status"] == "held"
    assert (await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}"))["status"] == "draft"

    # The sweep opens it, once; a publish sent again now is refused and changes nothing.
    opened_count = await sweep(ctx.container, job_sweeps.open_paid)
    assert opened_count is not None
    assert opened_count >= 1
    opened = await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}")
    assert opened["status"] == "open"
    assert opened["published"] is not None
    await refused(
        ctx,
        client,
        "POST",
        f"/v1/jobs/{job['id']}/publish",
        {"payment_method": "pm_card_visa"},
        409,
        "job_not_draft",
    )
    await sweep(ctx.container, job_sweeps.open_paid)
    assert (await ok(ctx, client, "GET", f"/v1/jobs/{job['id']}"))["published"] == opened[
        "published"
    ]
    assert await ledger_balance(ctx, f"escrow:{first['escrow']}") == BUDGET
    await follow(ctx)  # the payment's fee is booked by a job: leave nothing behind


async def test_a_publish_sent_again_after_3d_secure_opens_the_job_without_charging_again(
    ctx: Ctx,
) -> None:
    client = await payer(ctx)
    job = await draft(ctx, client, "Published again after 3-D Secure", testers=1)
    first = await publish(ctx, client, job, pm="pm_card_threeDSecureRequired")
    escrow = await ok(ctx, client, "GET", f"/v1/escrows/{first['escrow']}")
    page = httpx.URL(escrow["next_action"]["url"])
    await ctx.client.post(
        page.raw_path.decode(), data={"token": page.params["token"], "outcome": "complete"}
    )
    await settle(ctx.container)
    payment = (await ok(ctx, client, "GET", f"/v1/escrows/{first['escrow']}"))["payment"]
    # Before any sweep: the client's second publish finds the money held and opens the job.
    again = await publish(ctx, client, job)
    assert again["status"] == "open"
    after = await ok(ctx, client, "GET", f"/v1/escrows/{first['escrow']}")
    assert (after["status"], after["payment"]["id"]) == ("held", payment["id"])
    assert await ledger_balance(ctx, f"escrow:{first['escrow']}") == BUDGET
    await follow(ctx)  # the payment's fee is booked by a job: leave nothing behind
