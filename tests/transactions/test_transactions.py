"""A party's transactions, its summary and the platform's revenue, to the cent, and who may
read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID

from escrowd.clock import FrozenClock, unix
from tests.balances.conftest import fresh_payee
from tests.balances.test_balances import reverse
from tests.escrows.conftest import Ctx, Person, Sandbox, api_key_headers, funded, payer, post
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
