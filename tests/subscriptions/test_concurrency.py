"""Concurrent publishes never exceed a plan's limit, and one key counts once however often it
races."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.escrows.conftest import Ctx, payer
from tests.subscriptions.conftest import JOBS, check


async def test_twelve_concurrent_publishes_on_starter_count_exactly_five(ctx: Ctx) -> None:
    who = await payer(ctx)

    async def one(n: int) -> tuple[int, dict[str, Any]]:
        r = await ctx.client.post(
            "/v1/usage", json={"limit": JOBS, "key": f"race-{n}"}, headers=who.headers
        )
        return r.status_code, r.json()

    answers = await asyncio.gather(*(one(n) for n in range(12)))
    made = [body for status, body in answers if status == 200]
    assert len(made) == 5
    assert {(s, b["error"]["code"]) for s, b in answers if s != 200} == {
        (409, "plan_limit_reached")
    }
    assert sorted(b["limit"]["used"] for b in made) == [1, 2, 3, 4, 5]
    assert (await check(ctx, who))["used"] == 5


async def test_the_same_key_racing_counts_once(ctx: Ctx) -> None:
    who = await payer(ctx)

    async def one() -> tuple[int, dict[str, Any]]:
        r = await ctx.client.post(
            "/v1/usage", json={"limit": JOBS, "key": "job-same"}, headers=who.headers
        )
        return r.status_code, r.json()

    answers = await asyncio.gather(*(one() for _ in range(6)))
    assert {s for s, _ in answers} == {200}
    assert len({b["id"] for _, b in answers}) == 1
    assert (await check(ctx, who))["used"] == 1
