"""Time-driven work: payment windows, authorization deadlines, inspection periods.

The clock (a FrozenClock) is moved by hand and the sweeps and jobs are run explicitly. These
tests use their own databases: the sandbox's clock is escrowd's plus an offset stored in the
database, which other tests move forward, and authorization deadlines are the sandbox's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps, tasks
from escrowd.escrows.ledgering import escrow_account
from escrowd.jobs import JobContext, JobInfo
from escrowd.notifications.sweep import notify
from tests.conftest import (
    BACKENDS,
    create_pg_database,
    create_sqlite_database,
    drop_pg_database,
)
from tests.escrows.conftest import (
    Ctx,
    Person,
    Sandbox,
    create_escrow,
    event_types,
    funded,
    get,
    ledger_balance,
    payees,
    payer,
    person,
    post,
    run_jobs,
    settle,
    sweep,
)
from tests.integration.conftest import Account

pytestmark = pytest.mark.stripe_only(
    "the Stripe sandbox's clock and Stripe's 7-day authorizations "
    "(PayPal's 29-day deadline: tests/paypal/test_authorization_deadline.py)"
)


@pytest.fixture(scope="module")
def own_db_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    name = f"escrowd_timers_{str(ULID()).lower()}"
    if "sqlite" in BACKENDS:
        urls["sqlite"] = create_sqlite_database(
            Path(tmp_path_factory.mktemp("timers")) / "timers.sqlite3"
        )
    if "postgres" in BACKENDS:
        urls["postgres"] = create_pg_database(name)
    yield urls
    if "postgres" in urls:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, own_db_urls: dict[str, str]) -> str:
    if request.param not in own_db_urls:
        pytest.skip(f"{request.param} not in ESCROWD_TEST_BACKENDS")
    return own_db_urls[request.param]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_an_unpaid_escrow_expires_when_its_payment_window_lapses(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    unpaid = await create_escrow(ctx, client_, [(tester, 1000)], payment_window=600)
    waiting = await create_escrow(ctx, client_, [(tester, 1000)], payment_window=600)
    three_ds = await post(
        ctx,
        client_,
        f"/v1/escrows/{waiting['id']}/fund",
        {"payment_method": "pm_card_threeDSecureRequired", "return_url": "https://m.test/back"},
    )
    assert three_ds["status"] == "requires_action"
    clock.advance(timedelta(seconds=599))
    await sweep(ctx.container, sweeps.payment_windows)
    await run_jobs(ctx.container)
    assert (await get(ctx, client_, unpaid["id"]))["status"] == "requires_payment"

    clock.advance(timedelta(seconds=2))
    assert await sweep(ctx.container, sweeps.payment_windows) == 2
    await run_jobs(ctx.container)
    for escrow in (unpaid, waiting):
        after = await get(ctx, client_, escrow["id"])
        assert after["status"] == "expired"
        assert await event_types(ctx, client_, escrow["id"]) == [
            "escrow.created",
            *(["escrow.requires_action"] if escrow is waiting else []),
            "escrow.expired",
        ]
    # The abandoned 3-D Secure payment is voided, so it can no longer complete.
    payment = await sandbox.payment(three_ds["payment"]["id"])
    assert payment["status"] == "canceled"
    assert await sweep(ctx.container, sweeps.payment_windows) == 0


async def test_before_an_authorization_ends_it_is_captured_into_held(
    ctx: Ctx, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(tester, 1800)], capture_mode="authorize")
    deadline = at(escrow["payment"]["capture_before"])
    clock.advance(deadline - clock.now() - sweeps.AUTHORIZATION_MARGIN - timedelta(minutes=1))
    assert await sweep(ctx.container, sweeps.authorizations) == 0
    clock.advance(timedelta(minutes=2))
    assert await sweep(ctx.container, sweeps.authorizations) == 1
    await run_jobs(ctx.container)
    held = await get(ctx, client_, escrow["id"])
    assert held["status"] == "held"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 1800
    assert "escrow.captured" in await event_types(ctx, client_, escrow["id"])


async def test_an_authorization_set_to_notify_warns_then_expires_with_its_hold_voided(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await funded(
        ctx,
        client_,
        [(tester, 1200)],
        capture_mode="authorize",
        on_authorization_deadline="notify",
    )
    deadline = at(escrow["payment"]["capture_before"])
    clock.advance(deadline - clock.now() - timedelta(hours=1))
    await sweep(ctx.container, sweeps.authorizations)
    await run_jobs(ctx.container)
    assert (await get(ctx, client_, escrow["id"]))["status"] == "authorized"
    clock.advance(timedelta(hours=2))
    await settle(ctx.container)  # the sandbox expires the authorization: charge.expired
    await sweep(ctx.container, sweeps.authorizations)
    await run_jobs(ctx.container)
    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "expired"
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        "escrow.authorized",
        "escrow.authorization_expiring",
        "escrow.expired",
    ]
    assert (await sandbox.payment(escrow["payment"]["id"]))["status"] == "canceled"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0


async def test_an_inspection_period_that_lapses_undisputed_releases_the_money(
    ctx: Ctx, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    tester_a, tester_b = await payees(ctx, 2)
    escrow = await funded(ctx, client_, [(tester_a, 1000), (None, 1000)], inspection_period=3600)
    first, slot = (a["id"] for a in escrow["allocations"])
    await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/release",
        {"allocations": [{"id": first, "amount": 400}]},
    )
    clock.advance(timedelta(seconds=3599))
    assert await sweep(ctx.container, sweeps.inspections) == 0
    clock.advance(timedelta(seconds=2))
    assert await sweep(ctx.container, sweeps.inspections) == 1
    await run_jobs(ctx.container)
    # The payee's part is released; the open slot waits for its payee (the job retries).
    partly = await get(ctx, client_, escrow["id"])
    assert partly["status"] == "partially_released"
    assert [a["amount_released"] for a in partly["allocations"]] == [1000, 0]
    await post(
        ctx, client_, f"/v1/escrows/{escrow['id']}/allocations/{slot}/assign", {"payee": tester_b}
    )
    clock.advance(timedelta(hours=1))
    await run_jobs(ctx.container)
    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "released"
    assert [a["amount_released"] for a in after["allocations"]] == [1000, 1000]
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0


async def _events(ctx: Ctx, who: Person, escrow_id: str, last: str) -> list[dict[str, Any]]:
    """What ``who``'s stream of the escrow sends after event ``last``."""
    r = await ctx.client.get(
        "/v1/events/stream",
        params={"object_id": escrow_id, "seconds": 1},
        headers={**who.headers, "Last-Event-ID": last},
    )
    assert r.status_code == 200, r.text
    return [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]


async def test_an_unpaid_escrow_is_reminded_once_before_its_payment_window_ends(
    ctx: Ctx, clock: FrozenClock
) -> None:
    """Default lead: 120 s. A 120 s window gets no reminder; a paid escrow none; an unpaid
    600 s window exactly one, 120 s before it ends, whatever runs twice."""
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    short = await create_escrow(ctx, client_, [(tester, 1000)], payment_window=120)
    unpaid = await create_escrow(ctx, client_, [(tester, 1500)], payment_window=600)
    paid = await funded(ctx, client_, [(tester, 1000)], payment_window=600)
    remind = "escrow.payment_window_expiring"

    clock.advance(timedelta(seconds=1))  # `short` is within 120 s of its end, but is too short
    await sweep(ctx.container, sweeps.payment_window_reminders)
    await run_jobs(ctx.container)
    clock.advance(timedelta(seconds=478))  # 121 s before `unpaid` ends: not yet
    await sweep(ctx.container, sweeps.payment_window_reminders)
    await run_jobs(ctx.container)
    assert await event_types(ctx, client_, unpaid["id"]) == ["escrow.created"]

    clock.advance(timedelta(seconds=2))  # 119 s left
    # Two sweeps (two workers, or one twice) find it: one job.
    await sweep(ctx.container, sweeps.payment_window_reminders)
    await sweep(ctx.container, sweeps.payment_window_reminders)
    await run_jobs(ctx.container)
    assert await event_types(ctx, client_, unpaid["id"]) == ["escrow.created", remind]
    assert await event_types(ctx, client_, short["id"]) == ["escrow.created"]
    assert remind not in await event_types(ctx, client_, paid["id"])

    # The job itself run twice at once (a retry racing a second worker) writes nothing more,
    # and the sweep no longer finds the escrow.
    info = JobInfo("job_test", tasks.REMIND_JOB, 1, 5, None, clock.now(), clock.now())
    job = JobContext(ctx.container, info, "test-worker")
    payload = {"escrow_id": unpaid["id"]}
    await asyncio.gather(
        tasks.remind_payment_window(job, payload), tasks.remind_payment_window(job, payload)
    )
    assert await sweep(ctx.container, sweeps.payment_window_reminders) == 0
    assert await event_types(ctx, client_, unpaid["id"]) == ["escrow.created", remind]

    # It reaches the payer's and the payee's streams of the escrow, and the payer's
    # notifications.
    created = (await _events(ctx, client_, unpaid["id"], "evt_0"))[0]
    assert created["type"] == "escrow.created"
    payee = person(ctx, Account(tester, "", "", "worker", ""))
    for watcher in (client_, payee):
        [event] = await _events(ctx, watcher, unpaid["id"], created["id"])
        assert event["type"] == remind
        assert event["data"]["object"]["id"] == unpaid["id"]
        assert event["data"]["object"]["expires_at"] == unpaid["expires_at"]
    await sweep(ctx.container, notify)
    r = await ctx.client.get("/v1/notifications", params={"limit": 100}, headers=client_.headers)
    assert r.status_code == 200, r.text
    [note] = [
        n
        for n in r.json()["data"]
        if n["related_object"]["id"] == unpaid["id"] and n["type"] == "payment_window_expiring"
    ]
    assert note["title"] == "Your escrow's payment window ends soon"
    assert "15.00 USD" in note["body"]

    clock.advance(timedelta(seconds=120))  # the window ends: it still expires
    await sweep(ctx.container, sweeps.payment_windows)
    await run_jobs(ctx.container)
    assert await event_types(ctx, client_, unpaid["id"]) == [
        "escrow.created",
        remind,
        "escrow.expired",
    ]


async def test_the_reminder_lead_is_a_setting_and_zero_turns_it_off(
    ctx: Ctx, clock: FrozenClock
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(tester, 1000)], payment_window=3600)
    clock.advance(timedelta(seconds=3000))  # 600 s left
    for lead, expected in ((0, ["escrow.created"]), (599, ["escrow.created"])):
        settings = ctx.container.settings.model_copy(
            update={"payment_window_reminder_seconds": lead}
        )
        with_lead = replace(ctx.container, settings=settings)
        await sweep(with_lead, sweeps.payment_window_reminders)
        await run_jobs(ctx.container)
        assert await event_types(ctx, client_, escrow["id"]) == expected
    settings = ctx.container.settings.model_copy(update={"payment_window_reminder_seconds": 900})
    await sweep(replace(ctx.container, settings=settings), sweeps.payment_window_reminders)
    await run_jobs(ctx.container)
    assert await event_types(ctx, client_, escrow["id"]) == [
        "escrow.created",
        "escrow.payment_window_expiring",
    ]
