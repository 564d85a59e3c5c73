"""Automatic payouts: a payee's schedule pays its available balance out once per period, on
escrowd's clock; a payee that cannot receive money is skipped with the reason recorded."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from escrowd.jobs.worker import Worker
from escrowd.payouts import service
from escrowd.payouts.domain import SEND_JOB, Interval, Weekday, period_of
from escrowd.payouts.tasks import pay_out_schedules
from tests.balances.conftest import balance_of
from tests.escrows.conftest import Ctx, Person, api_key_headers, event_types, payer, sweep
from tests.payouts.conftest import days_pass, earned

Body = dict[str, Any]

pytestmark = pytest.mark.stripe_only(
    "a schedule pays out to the payee's connected account; scheduled payouts to a PayPal "
    "email are not built"
)


async def set_schedule(ctx: Ctx, who: Person, body: Body, status: int = 200) -> Body:
    r = await ctx.client.post("/v1/payout_schedule", json=body, headers=who.headers)
    assert r.status_code == status, r.text
    out: Body = r.json()
    return out


async def payouts_of(ctx: Ctx, who: Person) -> list[Body]:
    r = await ctx.client.get("/v1/payouts", params={"limit": 100}, headers=who.headers)
    assert r.status_code == 200, r.text
    data: list[Body] = r.json()["data"]
    return data


async def send_jobs(ctx: Ctx) -> None:
    worker = Worker(ctx.container, kinds={SEND_JOB}, run_sweeps=False)
    for _ in range(20):
        if not await worker.tick():
            return


async def test_a_daily_schedule_pays_out_once_a_day_to_the_bank(ctx: Ctx) -> None:
    worker = await earned(ctx, 3000)
    await days_pass(ctx, 2)  # the transfer's money is available on the connected account
    shown = await set_schedule(ctx, worker, {"interval": "daily"})
    today = ctx.container.clock.now().date()
    assert (shown["object"], shown["interval"], shown["party"]) == (
        "payout_schedule",
        "daily",
        worker.id,
    )
    assert shown["last_period"] == today.isoformat()  # this day is handled: from tomorrow
    await sweep(ctx.container, pay_out_schedules)
    assert await payouts_of(ctx, worker) == []

    await days_pass(ctx, 1)
    await sweep(ctx.container, pay_out_schedules)
    await sweep(ctx.container, pay_out_schedules)  # the same day again: nothing more
    (payout,) = await payouts_of(ctx, worker)
    assert (payout["amount"], payout["status"]) == (3000, "approved")
    assert await balance_of(ctx, worker) == {
        "available": {"usd": 0},
        "pending": {"usd": 0},
        "in_transit": {"usd": 3000},
    }
    await send_jobs(ctx)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "in_transit"
    await days_pass(ctx, 2)
    r = await ctx.client.get(f"/v1/payouts/{payout['id']}", headers=worker.headers)
    assert r.json()["status"] == "paid"
    assert await event_types(ctx, worker, payout["id"]) == [
        "payout.requested",
        "payout.approved",
        "payout.paid",
    ]
    # The payee's history: the earning, then the payout, with its reference.
    r = await ctx.client.get("/v1/transactions", headers=worker.headers)
    txns = r.json()["data"]
    assert [(t["type"], t["amount"], t["payout"]) for t in txns] == [
        ("payout", -3000, payout["id"]),
        ("earning", 3000, None),
    ]
    assert txns[0]["escrow"] is None
    r = await ctx.client.get("/v1/transactions/summary", headers=worker.headers)
    assert r.json()["payee"] == [
        {
            "currency": "usd",
            "earned": 3000,
            "reversed": 0,
            "pending": 0,
            "available": 0,
            "in_transit": 0,
            "paid_out": 3000,
        }
    ]
    # Nothing left: the next day's run pays nothing and says why.
    await sweep(ctx.container, pay_out_schedules)
    r = await ctx.client.get("/v1/payout_schedule", headers=worker.headers)
    assert r.json()["skip_code"] == "below_minimum"
    assert len(await payouts_of(ctx, worker)) == 1


async def test_a_payee_without_a_verified_account_is_skipped_with_the_reason(ctx: Ctx) -> None:
    nobody = await payer(ctx)
    await set_schedule(ctx, nobody, {"interval": "daily"})
    await days_pass(ctx, 1)
    await sweep(ctx.container, pay_out_schedules)
    r = await ctx.client.get("/v1/payout_schedule", headers=nobody.headers)
    shown = r.json()
    assert shown["skip_code"] == "payee_account_missing"
    assert "POST /v1/accounts" in shown["skip_message"]
    assert shown["skipped"] == int(ctx.container.clock.now().timestamp())
    # Not marked handled: tried again at the next run, once the payee is ready.
    assert shown["last_period"] != ctx.container.clock.now().date().isoformat()
    assert await payouts_of(ctx, nobody) == []


async def test_below_the_minimum_nothing_is_paid_out(ctx: Ctx) -> None:
    worker = await earned(ctx, 500)
    await set_schedule(ctx, worker, {"interval": "weekly", "minimum_amount": 1000})
    await days_pass(ctx, 7)
    await sweep(ctx.container, pay_out_schedules)
    assert await payouts_of(ctx, worker) == []
    r = await ctx.client.get("/v1/payout_schedule", headers=worker.headers)
    assert r.json()["skip_code"] == "below_minimum"
    assert (await balance_of(ctx, worker))["available"] == {"usd": 500}


async def test_racing_sweeps_make_one_payout_per_period(ctx: Ctx) -> None:
    worker = await earned(ctx, 2000)
    await set_schedule(ctx, worker, {"interval": "monthly", "monthly_anchor": 31})
    await days_pass(ctx, 32)
    made = await asyncio.gather(
        *(service.pay_out_on_schedule(ctx.container, worker.id) for _ in range(5))
    )
    assert sum(len(m) for m in made) == 1
    assert [p["amount"] for p in await payouts_of(ctx, worker)] == [2000]


async def test_schedules_are_the_payees_and_checked(ctx: Ctx) -> None:
    worker = await earned(ctx, 100)
    r = await ctx.client.get("/v1/payout_schedule", headers=worker.headers)
    assert r.json()["interval"] == "manual"  # none set yet
    err = await set_schedule(
        ctx, worker, {"interval": "daily", "weekly_anchor": "friday"}, status=400
    )
    assert err["error"]["param"] == "weekly_anchor"
    err = await set_schedule(ctx, worker, {"interval": "weekly", "monthly_anchor": 3}, status=400)
    assert err["error"]["param"] == "monthly_anchor"
    await set_schedule(ctx, worker, {"interval": "monthly", "monthly_anchor": 32}, status=400)
    await set_schedule(ctx, worker, {"interval": "hourly"}, status=400)
    shown = await set_schedule(ctx, worker, {"interval": "weekly", "weekly_anchor": "friday"})
    assert shown["weekly_anchor"] == "friday"
    back = await set_schedule(ctx, worker, {"interval": "manual"})
    assert (back["interval"], back["weekly_anchor"], back["last_period"]) == ("manual", None, None)
    r = await ctx.client.post(
        "/v1/payout_schedule", json={"interval": "daily"}, headers=await api_key_headers(ctx)
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "payee_required"
    other = await earned(ctx, 100)
    err = await set_schedule(ctx, other, {"interval": "daily", "party": worker.id}, status=404)
    assert err["error"]["param"] == "party"


@pytest.mark.parametrize(
    ("interval", "today", "weekly", "monthly", "start"),
    [
        (Interval.daily, date(2026, 3, 4), None, None, date(2026, 3, 4)),
        # 2026-03-04 is a Wednesday.
        (Interval.weekly, date(2026, 3, 4), Weekday.monday, None, date(2026, 3, 2)),
        (Interval.weekly, date(2026, 3, 4), Weekday.wednesday, None, date(2026, 3, 4)),
        (Interval.weekly, date(2026, 3, 4), Weekday.friday, None, date(2026, 2, 27)),
        (Interval.monthly, date(2026, 3, 4), None, 1, date(2026, 3, 1)),
        (Interval.monthly, date(2026, 3, 4), None, 15, date(2026, 2, 15)),
        # The 31st of a short month is its last day.
        (Interval.monthly, date(2026, 3, 4), None, 31, date(2026, 2, 28)),
        (Interval.monthly, date(2026, 4, 30), None, 31, date(2026, 4, 30)),
        (Interval.monthly, date(2026, 1, 10), None, 20, date(2025, 12, 20)),
        (Interval.manual, date(2026, 3, 4), None, None, None),
    ],
)
def test_periods(
    interval: Interval,
    today: date,
    weekly: Weekday | None,
    monthly: int | None,
    start: date | None,
) -> None:
    assert period_of(interval, today, weekly_anchor=weekly, monthly_anchor=monthly) == start
    if start is not None:
        assert today - start < timedelta(days=31)
