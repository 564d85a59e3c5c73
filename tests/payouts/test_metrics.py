"""``GET /v1/reports/metrics``: payment success and failure rates, payout processing time and
the platform's fees over a window, in integers, from what escrowd recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from escrowd.clock import unix
from tests.escrows.conftest import Ctx, api_key_headers, create_escrow, keyed, payer, post, settle
from tests.payouts.conftest import days_pass, earned, request_payout, review

DAY = 86_400

pytestmark = pytest.mark.stripe_only(
    "the figures are counted from escrowd's own escrows and payouts, whatever their provider"
)


async def metrics(ctx: Ctx, **params: Any) -> dict[str, Any]:
    r = await ctx.client.get(
        "/v1/reports/metrics", params=params, headers=await api_key_headers(ctx)
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_the_metrics_of_a_window(ctx: Ctx) -> None:
    # The database is shared with other tests, whose clocks start at the same real time and
    # move days on: this test's window is twenty years later, where nothing else happened.
    ctx.container.clock.advance(timedelta(days=7300))  # type: ignore[attr-defined]
    start = unix(ctx.container.clock.now())
    worker = await earned(ctx, 3000)  # a charge: one payment that succeeded
    alice = await payer(ctx)

    # A declined card, then a good one, on an escrow with a 10% fee, released.
    charged = await create_escrow(ctx, alice, [(worker.id, 2000)], fee_policy={"rate_bps": 1000})
    r = await ctx.client.post(
        f"/v1/escrows/{charged['id']}/fund",
        json={"payment_method": "pm_card_chargeDeclined"},
        headers=keyed(alice.headers),
    )
    assert r.status_code == 402, r.text
    await post(ctx, alice, f"/v1/escrows/{charged['id']}/fund", {"payment_method": "pm_card_visa"})
    await post(ctx, alice, f"/v1/escrows/{charged['id']}/release")

    # Authorized, then captured: one payment, not two.
    held = await create_escrow(ctx, alice, [(worker.id, 1000)], capture_mode="authorize")
    await post(ctx, alice, f"/v1/escrows/{held['id']}/fund", {"payment_method": "pm_card_visa"})
    await post(ctx, alice, f"/v1/escrows/{held['id']}/capture")
    await settle(ctx.container)

    # A payout: requested, approved two days later, paid two days after that.
    payout = await request_payout(ctx, worker, 3000)
    await days_pass(ctx, 2)
    await review(ctx, payout["id"], "approve")
    await days_pass(ctx, 2)
    end = unix(ctx.container.clock.now()) + 1

    report = await metrics(ctx, start=start, end=end)
    assert report["object"] == "metrics_report"
    assert (report["start"], report["end"]) == (start, end)
    assert report["payments"] == {
        "attempts": 4,
        "succeeded": 3,
        "failed": 1,
        "success_rate_bps": 7500,
        "failure_rate_bps": 2500,
    }
    assert report["payouts"] == {"paid": 1, "failed": 0, "average_processing_seconds": 4 * DAY}
    assert report["disputes"] == {"resolved": 0, "average_resolution_seconds": None}
    assert report["revenue"] == [{"currency": "usd", "fees": 200, "count": 1}]

    # A window before any of it: nothing, and no rate to divide by.
    empty = await metrics(ctx, start=start - 10 * DAY, end=start)
    assert empty["payments"]["attempts"] == 0
    assert empty["payments"]["success_rate_bps"] is None
    assert empty["payouts"]["average_processing_seconds"] is None
    assert empty["revenue"] == []


async def test_the_window_must_run_forwards_and_admins_only(ctx: Ctx) -> None:
    r = await ctx.client.get(
        "/v1/reports/metrics", params={"start": 200, "end": 100}, headers=await api_key_headers(ctx)
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "start"
    worker = await payer(ctx)
    r = await ctx.client.get("/v1/reports/metrics", headers=worker.headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "admin_required"
