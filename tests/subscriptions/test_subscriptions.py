"""Plans, subscribing (incomplete → active by the provider's invoice.paid), 3-D Secure, plan
changes, cancellation at the period's end, renewals paid and failed, and the ledger."""

from __future__ import annotations

from escrowd.clock import unix
from escrowd.escrows.ledgering import PLATFORM_FEES
from escrowd.ledger import Ledger
from tests.escrows.conftest import Ctx, api_key_headers, event_types, payer
from tests.subscriptions.conftest import (
    active,
    check,
    confirm_first_payment,
    days_pass,
    fresh_code,
    revenue_transfers,
    stripe,
    sub_of,
    subscribe,
    use,
)


async def _fees(ctx: Ctx) -> int:
    async with ctx.container.db.transaction() as s:
        account = await Ledger(s).find_account(code=PLATFORM_FEES, currency="usd")
    return 0 if account is None else account.balances.net_posted


async def _revenue(ctx: Ctx) -> int:
    """The platform's usd revenue booked in the last 30 days up to now (escrowd's clock, which
    the test holds still: ``until`` is exclusive, so one second on)."""
    now = unix(ctx.container.clock.now())
    r = await ctx.client.get(
        "/v1/reports/revenue",
        params={"period": "month", "since": now - 30 * 86400, "until": now + 1},
        headers=await api_key_headers(ctx),
    )
    assert r.status_code == 200, r.text
    return sum(line["fees"] for line in r.json()["data"] if line["currency"] == "usd")


async def test_the_seed_plans_are_listed_without_credentials(ctx: Ctx) -> None:
    r = await ctx.client.get("/v1/plans")
    assert r.status_code == 200, r.text
    plans = {p["id"]: p for p in r.json()["data"]}
    assert plans["starter"]["amount"] == 0
    assert plans["starter"]["limits"] == {"published_jobs_per_month": 5}
    assert plans["starter"]["upgrade_to"] == "pro"
    assert (plans["pro"]["amount"], plans["pro"]["currency"]) == (4900, "usd")
    assert plans["pro"]["limits"] == {"published_jobs_per_month": None}
    assert (plans["team"]["amount"], plans["team"]["audience"]) == (19900, "organization")


async def test_starter_refuses_the_sixth_job_of_the_month(ctx: Ctx) -> None:
    who = await payer(ctx)
    for n in range(1, 6):
        used = await use(ctx, who, f"job-{n}")
        assert used["limit"]["used"] == n
        assert used["limit"]["remaining"] == 5 - n
    refused = await use(ctx, who, "job-6", status=409)
    assert refused["error"]["code"] == "plan_limit_reached"
    assert "Starter" in refused["error"]["message"]
    assert "Pro" in refused["error"]["message"]
    # A retried publish of a job already counted is not a new use.
    again = await use(ctx, who, "job-5")
    assert again["limit"]["used"] == 5
    seen = await check(ctx, who)
    assert (seen["plan"], seen["allowed"], seen["used"], seen["remaining"]) == (
        "starter",
        False,
        5,
        0,
    )
    # The marketplace's platform key checks for the user and is refused the same way.
    key = await api_key_headers(ctx)
    by_key = await use(ctx, key, "job-7", status=409, owner=who.id)
    assert by_key["error"]["code"] == "plan_limit_reached"
    # A new month starts from zero (escrowd's clock).
    await days_pass(ctx, 32)
    assert (await use(ctx, who, "job-8"))["limit"]["used"] == 1


async def test_subscribing_is_incomplete_until_the_invoice_is_paid(ctx: Ctx) -> None:
    who = await payer(ctx)
    for n in range(5):
        await use(ctx, who, f"pre-{n}")
    created = await subscribe(ctx, who, "pro")
    assert created["status"] == "incomplete"
    assert created["client_secret"]
    assert created["plan"] == "pro"
    assert created["owner"] == who.id
    # Not paid yet: still Starter.
    assert (await use(ctx, who, "pre-5", status=409))["error"]["code"] == "plan_limit_reached"
    fees_before, revenue_before = await _fees(ctx), await _revenue(ctx)
    await confirm_first_payment(ctx, created)
    after = await sub_of(ctx, who, created["id"])
    assert after["status"] == "active"
    assert after["current_period_end"] is not None
    booked = await revenue_transfers(ctx, created["id"])
    assert list(booked.values()) == [4900]
    assert all(t.endswith(":subscription") and t.startswith("in_") for t in booked)
    assert await _fees(ctx) - fees_before == 4900
    assert await _revenue(ctx) - revenue_before == 4900  # the revenue report sees it
    sixth = await use(ctx, who, "pre-5")
    assert (sixth["limit"]["plan"], sixth["limit"]["maximum"]) == ("pro", None)
    assert await event_types(ctx, who, created["id"]) == [
        "subscription.created",
        "subscription.activated",
    ]
    # A second subscription for the same owner is refused.
    twice = await subscribe(ctx, who, "pro", status=409)
    assert twice["error"]["code"] == "subscription_exists"


async def test_a_3d_secure_card_gets_a_client_secret_and_activates_after_authentication(
    ctx: Ctx,
) -> None:
    who = await payer(ctx)
    created = await subscribe(ctx, who, "pro", payment_method="pm_card_threeDSecureRequired")
    assert created["status"] == "incomplete"
    assert created["client_secret"]
    pi = await confirm_first_payment(ctx, created)
    assert pi["status"] == "requires_action"  # the payer went through 3-D Secure
    assert (await sub_of(ctx, who, created["id"]))["status"] == "active"
    assert list((await revenue_transfers(ctx, created["id"])).values()) == [4900]


async def test_upgrade_and_downgrade_change_the_limits_and_the_provider_price(ctx: Ctx) -> None:
    admin = await api_key_headers(ctx)
    code = fresh_code("basic")
    r = await ctx.client.post(
        "/v1/plans",
        json={
            "code": code,
            "name": "Basic",
            "amount": 1900,
            "currency": "usd",
            "limits": {"published_jobs_per_month": 6},
            "upgrade_to": "pro",
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    who = await payer(ctx)
    sub = await active(ctx, who, code)
    for n in range(6):
        await use(ctx, who, f"b-{n}")
    assert (await use(ctx, who, "b-6", status=409))["error"]["code"] == "plan_limit_reached"
    up = await ctx.client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan": "pro"},
        headers={**who.headers, "Idempotency-Key": f"up-{sub['id']}"},
    )
    assert up.status_code == 200, up.text
    assert up.json()["plan"] == "pro"
    at_provider = await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}")
    assert at_provider["items"]["data"][0]["price"]["unit_amount"] == 4900
    assert (await use(ctx, who, "b-6"))["limit"]["plan"] == "pro"
    down = await ctx.client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan": code},
        headers={**who.headers, "Idempotency-Key": f"down-{sub['id']}"},
    )
    assert down.status_code == 200, down.text
    assert down.json()["plan"] == code
    at_provider = await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}")
    assert at_provider["items"]["data"][0]["price"]["unit_amount"] == 1900
    refused = await use(ctx, who, "b-8", status=409)
    assert refused["error"]["code"] == "plan_limit_reached"
    # Pro → Team is not a change: Team is an organization's plan.
    wrong = await ctx.client.post(
        f"/v1/subscriptions/{sub['id']}/change_plan",
        json={"plan": "team"},
        headers={**who.headers, "Idempotency-Key": f"team-{sub['id']}"},
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"]["code"] == "plan_audience_mismatch"
    # The next invoice bills the plan it is on now.
    await days_pass(ctx, 32)
    booked = sorted((await revenue_transfers(ctx, sub["id"])).values())
    assert booked == [1900, 1900]


async def test_cancel_keeps_the_plan_until_the_period_ends(ctx: Ctx) -> None:
    who = await payer(ctx)
    sub = await active(ctx, who)
    r = await ctx.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        headers={**who.headers, "Idempotency-Key": f"cancel-{sub['id']}"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["cancel_at_period_end"]) == ("active", True)
    at_provider = await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}")
    assert at_provider["cancel_at_period_end"] is True
    assert (await check(ctx, who))["plan"] == "pro"
    await days_pass(ctx, 32)
    ended = await sub_of(ctx, who, sub["id"])
    assert ended["status"] == "canceled"
    assert ended["ended_at"] is not None
    assert (await check(ctx, who))["plan"] == "starter"
    assert list((await revenue_transfers(ctx, sub["id"])).values()) == [4900]  # no renewal
    assert "subscription.canceled" in await event_types(ctx, who, sub["id"])
    # Free to subscribe again.
    again = await subscribe(ctx, who, "pro")
    assert again["status"] == "incomplete"


async def test_a_paid_renewal_is_booked_and_a_failed_one_makes_it_past_due(ctx: Ctx) -> None:
    who = await payer(ctx)
    sub = await active(ctx, who)
    await days_pass(ctx, 31)
    renewed = await sub_of(ctx, who, sub["id"])
    assert renewed["status"] == "active"
    assert renewed["current_period_end"] > sub["current_period_end"]
    assert sorted((await revenue_transfers(ctx, sub["id"])).values()) == [4900, 4900]
    assert "subscription.renewed" in await event_types(ctx, who, sub["id"])
    # The payer's card starts declining (as the provider's dashboard would set it up).
    customer = (await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}"))[
        "customer"
    ]
    card = await stripe(
        ctx, "POST", "payment_methods/pm_card_chargeCustomerFail/attach", customer=customer
    )
    await stripe(
        ctx,
        "POST",
        f"subscriptions/{sub['provider_subscription']}",
        default_payment_method=card["id"],
    )
    await days_pass(ctx, 31)
    late = await sub_of(ctx, who, sub["id"])
    assert late["status"] == "past_due"
    assert len(await revenue_transfers(ctx, sub["id"])) == 2  # nothing booked for it
    assert (await check(ctx, who))["plan"] == "pro"  # the provider retries meanwhile
    assert "subscription.past_due" in await event_types(ctx, who, sub["id"])
    # Still unpaid at the next renewal: the provider cancels it; Starter again.
    await days_pass(ctx, 31)
    assert (await sub_of(ctx, who, sub["id"]))["status"] == "canceled"
    assert (await check(ctx, who))["plan"] == "starter"
