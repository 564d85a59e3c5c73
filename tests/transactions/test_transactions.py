"""A party's transactions, its summary and the platform's revenue, to the cent, and who may
read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID

from escrowd.clock import FrozenClock, unix
from escrowd.transactions import service as transactions
from escrowd.transactions.domain import Period, next_period_start, period_start, period_starts
from tests.balances.conftest import fresh_payee
from tests.balances.test_balances import reverse
from tests.escrows.conftest import (
    Ctx,
    Person,
    Sandbox,
    api_key_headers,
    create_escrow,
    funded,
    keyed,
    payer,
    post,
)
from tests.integration.conftest import make_user

Body = dict[str, Any]


async def listed(ctx: Ctx, headers: dict[str, str], **params: Any) -> Body:
    r = await ctx.client.get("/v1/transactions", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: Body = r.json()
    assert body["object"] == "list"
    return body


def shown(body: Body) -> list[tuple[str, int, str | None]]:
    return [(t["type"], t["amount"], t["allocation"]) for t in body["data"]]


async def history(ctx: Ctx, clock: FrozenClock, sandbox: Sandbox) -> tuple[Person, Person, Body]:
    """30.00 funded (10% fee), 20.00 released, the other 10.00 refunded, 5.00 reversed — each
    step a second after the last."""
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, client_, [(worker.id, 3000)], fee_policy={"rate_bps": 1000})
    alloc = escrow["allocations"][0]["id"]
    clock.advance(timedelta(seconds=1))
    await post(
        ctx,
        client_,
        f"/v1/escrows/{escrow['id']}/release",
        {"allocations": [{"id": alloc, "amount": 2000}]},
    )
    clock.advance(timedelta(seconds=1))
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/refund")
    clock.advance(timedelta(seconds=1))
    await reverse(ctx, sandbox, escrow["id"], 500)
    return client_, worker, escrow


async def test_each_party_sees_its_side_of_the_ledger(
    ctx: Ctx, clock: FrozenClock, sandbox: Sandbox
) -> None:
    client_, worker, escrow = await history(ctx, clock, sandbox)
    alloc = escrow["allocations"][0]["id"]

    # The payer: what left their card, what came back.
    paid = await listed(ctx, client_.headers)
    assert shown(paid) == [("refund", 1000, None), ("payment", -3000, None)]
    assert {t["escrow"] for t in paid["data"]} == {escrow["id"]}
    assert all(t["party"] == client_.id and t["currency"] == "usd" for t in paid["data"])
    # The payee: the net of the release, then what the reversal took back.
    earned = await listed(ctx, worker.headers)
    assert shown(earned) == [("reversal", -500, alloc), ("earning", 1800, alloc)]
    assert [t["created"] for t in earned["data"]] == [
        unix(clock.now()),
        unix(clock.now() - timedelta(seconds=2)),
    ]
    # The platform's fee, for admins.
    admin = await make_user(ctx.container, role="admin")
    fees = await listed(ctx, admin.headers, party="platform", limit=100)
    mine = [t for t in fees["data"] if t["escrow"] == escrow["id"]]
    assert [(t["type"], t["amount"], t["party"]) for t in mine] == [("fee", 200, "platform")]

    # Ids are stable, unique, typed.
    again = await listed(ctx, worker.headers)
    assert [t["id"] for t in again["data"]] == [t["id"] for t in earned["data"]]
    ids = [t["id"] for t in [*paid["data"], *earned["data"], *mine]]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("txn_") for i in ids)

    # Pages of one, both ways.
    newest, oldest = earned["data"]
    first = await listed(ctx, worker.headers, limit=1)
    assert ([t["id"] for t in first["data"]], first["has_more"]) == ([newest["id"]], True)
    second = await listed(ctx, worker.headers, limit=1, starting_after=newest["id"])
    assert ([t["id"] for t in second["data"]], second["has_more"]) == ([oldest["id"]], False)
    back = await listed(ctx, worker.headers, limit=1, ending_before=oldest["id"])
    assert [t["id"] for t in back["data"]] == [newest["id"]]
    # A cursor from another party's list is not one of this list.
    r = await ctx.client.get(
        "/v1/transactions", params={"starting_after": paid["data"][0]["id"]}, headers=worker.headers
    )
    assert (r.status_code, r.json()["error"]["param"]) == (400, "starting_after"), r.text


async def test_summaries_to_the_cent(ctx: Ctx, clock: FrozenClock, sandbox: Sandbox) -> None:
    client_, worker, _ = await history(ctx, clock, sandbox)
    r = await ctx.client.get("/v1/transactions/summary", headers=client_.headers)
    assert r.status_code == 200, r.text
    # Paid 30.00, 10.00 refunded, 20.00 released of which 5.00 reversed back into the escrow.
    assert r.json() == {
        "object": "transaction_summary",
        "party": client_.id,
        "payer": [{"currency": "usd", "paid": 3000, "refunded": 1000, "in_escrow": 500}],
        "payee": [],
    }
    r = await ctx.client.get("/v1/transactions/summary", headers=worker.headers)
    assert r.json()["payer"] == []
    assert r.json()["payee"] == [
        {
            "currency": "usd",
            "earned": 1800,
            "reversed": 500,
            "pending": 0,
            "available": 1300,
            "in_transit": 0,
            "paid_out": 0,
        }
    ]


async def test_revenue_per_period(ctx: Ctx, clock: FrozenClock) -> None:
    # A month of its own, far from other tests' fees (the databases are shared).
    month = datetime(clock.now().year + 7, 3, 1, tzinfo=UTC)
    clock.advance(month + timedelta(days=2, hours=10) - clock.now())  # Thursday 3 March
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    for amount, days in ((1000, 0), (3000, 0), (2000, 5)):  # 1.00 + 3.00 fees; 2.00 fee
        clock.advance(timedelta(days=days))
        escrow = await funded(ctx, client_, [(worker.id, amount)], fee_policy={"rate_bps": 1000})
        await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    admin = await make_user(ctx.container, role="admin")
    since, until = unix(month), unix(month + timedelta(days=31))

    async def report(period: str) -> list[tuple[int, int, int]]:
        r = await ctx.client.get(
            "/v1/reports/revenue",
            params={"period": period, "since": since, "until": until},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["object"], body["period"], body["since"]) == ("revenue_report", period, since)
        assert {line["currency"] for line in body["data"]} == {"usd"}
        return [(line["period_start"], line["fees"], line["count"]) for line in body["data"]]

    day = 86400
    assert await report("day") == [(since + 2 * day, 400, 2), (since + 7 * day, 200, 1)]
    # Weeks start on Monday: 28 February, then 7 March.
    assert await report("week") == [(since - day, 400, 2), (since + 6 * day, 200, 1)]
    assert await report("month") == [(since, 600, 3)]


async def test_who_may_read_what(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    escrow = await funded(ctx, client_, [(worker.id, 1000)])
    await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    stranger = await make_user(ctx.container, role="worker")
    admin = await make_user(ctx.container, role="admin")
    key = await api_key_headers(ctx)
    party = {"party": worker.id}

    for path in ("/v1/transactions", "/v1/transactions/summary"):
        for headers, status in (
            (client_.headers, 404),
            (worker.headers, 200),
            (stranger.headers, 404),
            (admin.headers, 200),
            (key, 200),
        ):
            r = await ctx.client.get(path, params=party, headers=headers)
            assert r.status_code == status, (path, r.text)
            if status == 404:
                assert r.json()["error"]["param"] == "party"
        r = await ctx.client.get(path, params=party)
        assert r.status_code == 401
        r = await ctx.client.get(path, headers=key)  # an API key names a party
        assert (r.status_code, r.json()["error"]["param"]) == (400, "party")
    # The payee's list as the admin and the key see it: the same.
    r = await ctx.client.get("/v1/transactions", params=party, headers=key)
    assert shown(r.json()) == [("earning", 1000, escrow["allocations"][0]["id"])]
    # The platform's fees: admins only; others are told no such party.
    for headers, status in ((worker.headers, 404), (admin.headers, 200), (key, 200)):
        r = await ctx.client.get("/v1/transactions", params={"party": "platform"}, headers=headers)
        assert r.status_code == status, r.text

    path, params = "/v1/reports/revenue", {"period": "month"}
    for headers, status in (
        (client_.headers, 403),
        (worker.headers, 403),
        (stranger.headers, 403),
        (admin.headers, 200),
        (key, 200),
    ):
        r = await ctx.client.get(path, params=params, headers=headers)
        assert r.status_code == status, r.text
    assert (await ctx.client.get(path, params=params)).status_code == 401


async def test_bad_input_is_a_400_envelope(ctx: Ctx) -> None:
    admin = await make_user(ctx.container, role="admin")
    cases: list[tuple[str, dict[str, str | int], str]] = [
        ("/v1/transactions", {"party": "bogus"}, "party"),
        ("/v1/transactions", {"starting_after": "txn_nope"}, "starting_after"),
        ("/v1/transactions", {"ending_before": f"esc_{ULID()}"}, "ending_before"),
        ("/v1/transactions", {"starting_after": f"txn_{ULID()}"}, "starting_after"),
        ("/v1/transactions", {"limit": 0}, "limit"),
        ("/v1/transactions/summary", {"party": "platform"}, "party"),
        ("/v1/reports/revenue", {}, "period"),
        ("/v1/reports/revenue", {"period": "year"}, "period"),
        ("/v1/reports/revenue", {"period": "day", "since": 100, "until": 100}, "since"),
        ("/v1/reports/revenue", {"period": "day", "since": -1}, "since"),
    ]
    for path, params, param in cases:
        r = await ctx.client.get(path, params=params, headers=admin.headers)
        assert r.status_code == 400, (path, params, r.text)
        error = r.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param), error


def test_period_starts_cover_the_window_with_empty_periods_too() -> None:
    at = datetime(2031, 11, 20, 15, tzinfo=UTC)  # a Thursday
    assert period_starts(at, at + timedelta(days=2), Period.day) == [
        datetime(2031, 11, 20, tzinfo=UTC),
        datetime(2031, 11, 21, tzinfo=UTC),
        datetime(2031, 11, 22, tzinfo=UTC),
    ]
    weeks = period_starts(at, datetime(2031, 12, 2, tzinfo=UTC), Period.week)
    assert weeks == [datetime(2031, 11, 17, tzinfo=UTC), datetime(2031, 11, 24, tzinfo=UTC),
                     datetime(2031, 12, 1, tzinfo=UTC)]  # fmt: skip
    months = period_starts(at, datetime(2032, 2, 1, tzinfo=UTC), Period.month)
    assert months == [datetime(2031, 11, 1, tzinfo=UTC), datetime(2031, 12, 1, tzinfo=UTC),
                      datetime(2032, 1, 1, tzinfo=UTC)]  # fmt: skip
    assert next_period_start(datetime(2031, 12, 1, tzinfo=UTC), Period.month) == datetime(
        2032, 1, 1, tzinfo=UTC
    )


async def test_a_payees_earnings_per_period(ctx: Ctx, clock: FrozenClock, sandbox: Sandbox) -> None:
    # A month of its own, far from other tests' entries (the databases are shared).
    month = datetime(clock.now().year + 8, 3, 1, tzinfo=UTC)
    clock.advance(month + timedelta(hours=10) - clock.now())
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    first = await funded(ctx, client_, [(worker.id, 3000)], fee_policy={"rate_bps": 1000})
    await post(ctx, client_, f"/v1/escrows/{first['id']}/release")  # 27.00 net
    weeks_seen = [period_start(clock.now(), Period.week)]
    clock.advance(timedelta(days=9))  # another week
    second = await funded(ctx, client_, [(worker.id, 1000)], fee_policy={"rate_bps": 0})
    await post(ctx, client_, f"/v1/escrows/{second['id']}/release")  # 10.00
    weeks_seen.append(period_start(clock.now(), Period.week))
    clock.advance(weeks_seen[-1] + timedelta(days=7, hours=1) - clock.now())  # the next Monday
    await reverse(ctx, sandbox, second["id"], 400)
    weeks_seen.append(period_start(clock.now(), Period.week))
    since, until = month, month + timedelta(days=31)
    async with ctx.container.db.transaction() as s:
        weeks = await transactions.earnings(
            s, party=worker.id, period=Period.week, since=since, until=until
        )
        months = await transactions.earnings(
            s, party=worker.id, period=Period.month, since=since, until=until
        )
        later = await transactions.earnings(
            s, party=worker.id, period=Period.day, since=until, until=until + timedelta(days=9)
        )
        stranger = await transactions.earnings(
            s, party=client_.id, period=Period.day, since=since, until=until
        )
    assert [(w.period_start, w.currency, w.earned, w.reversed, w.net) for w in weeks] == [
        (weeks_seen[0], "usd", 2700, 0, 2700),
        (weeks_seen[1], "usd", 1000, 0, 1000),
        (weeks_seen[2], "usd", 0, 400, -400),
    ]
    assert [(m.period_start, m.net) for m in months] == [(month, 3300)]
    assert later == []
    assert stranger == []  # a payer without payee accounts earned nothing


async def test_payment_success_per_period(ctx: Ctx, clock: FrozenClock) -> None:
    day = datetime(clock.now().year + 9, 5, 4, tzinfo=UTC)
    clock.advance(day + timedelta(hours=9) - clock.now())
    client_ = await payer(ctx)
    worker = await fresh_payee(ctx)
    # Day 1: a decline then a success on one escrow, and a second success: 2 of 3.
    escrow = await create_escrow(ctx, client_, [(worker.id, 1500)])
    fund = f"/v1/escrows/{escrow['id']}/fund"
    declined = await ctx.client.post(
        fund, json={"payment_method": "pm_card_chargeDeclined"}, headers=keyed(client_.headers)
    )
    assert declined.status_code == 402, declined.text
    await post(ctx, client_, fund, {"payment_method": "pm_card_visa"})
    await funded(ctx, client_, [(worker.id, 900)])
    # Day 3: an authorization, later captured (one attempt, not two).
    clock.advance(timedelta(days=2))
    manual = await create_escrow(ctx, client_, [(worker.id, 700)], capture_mode="authorize")
    await post(ctx, client_, f"/v1/escrows/{manual['id']}/fund", {"payment_method": "pm_card_visa"})
    await post(ctx, client_, f"/v1/escrows/{manual['id']}/capture")
    async with ctx.container.db.transaction() as s:
        lines = await transactions.payment_success(
            s, period=Period.day, since=day, until=day + timedelta(days=7)
        )
        weekly = await transactions.payment_success(
            s, period=Period.month, since=day, until=day + timedelta(days=7)
        )
    assert [(x.period_start, x.succeeded, x.failed, x.success_bps) for x in lines] == [
        (day, 2, 1, 6667),
        (day + timedelta(days=2), 1, 0, 10_000),
    ]
    assert [(x.attempts, x.success_bps) for x in weekly] == [(4, 7500)]
    empty = transactions.PaymentRateLine(day, 0, 0)
    assert empty.success_bps is None
