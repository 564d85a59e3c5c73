"""Time-driven work: payment windows, authorization deadlines, inspection periods.

The clock (a FrozenClock) is moved by hand and the sweeps and jobs are run explicitly. These
tests use their own databases: the sandbox's clock is escrowd's plus an offset stored in the
database, which other tests move forward, and authorization deadlines are the sandbox's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ulid import ULID

from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps
from escrowd.escrows.ledgering import escrow_account
from tests.conftest import (
    BACKENDS,
    create_pg_database,
    create_sqlite_database,
    drop_pg_database,
)
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    create_escrow,
    event_types,
    funded,
    get,
    ledger_balance,
    payees,
    payer,
    post,
    run_jobs,
    settle,
    sweep,
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
