"""Seed 004, Guess The Worth: a secret-threshold art auction, walked through the HTTP API.

The seed's numbers: an artwork whose hidden threshold is $100.00, a winning bid of $150.00,
Stripe's 2.9 % + 30¢ ($4.65 on $150.00) folded into the bid ("buyer pays fees — included in
the bid amount"), direct sale without a platform fee: the seller receives $145.35.

One scenario, in order: a bid below the threshold; a winning bid whose 10-minute window runs
out (back on sale, the bidder notified); a winning bid whose card is declined (the escrow is
cancelled, back on sale, the bidder notified); a winning bid paid with the 4242 card (sold,
buyer and seller notified, released to the seller); bids refused while pending and once sold;
an admin refund (back on sale). Every response a non-seller, non-admin caller got, every event
of the scenario and every log line is searched for the threshold. A separate test fires
concurrent winning bids: exactly one wins and one escrow exists.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps as escrow_sweeps
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS
from escrowd.escrows.models import Escrow
from escrowd.events.models import Event
from escrowd.ledger.verify import summary_lines, verify
from escrowd.marketplace.auctions import sweeps as auction_sweeps
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
from tests.integration.conftest import Account, bearer, make_api_key, make_user

THRESHOLD = 10_000  # $100.00, the seed's secret_threshold
WINNING_BID = 15_000  # $150.00, the seed's winning bid
STRIPE_FEE = 435 + 30  # 2.9 % of $150.00 + 30¢
SELLER_GETS = WINNING_BID - STRIPE_FEE  # $145.35: no platform fee, direct sale

Json = dict[str, Any]

#: The threshold as any caller could read it: the integer, or formatted as money.
LEAK = re.compile(r"(?<![\w.])(10000|100\.00|100,00)(?![\w])")


class Recorder:
    """Every request of the scenario, with who made it and what came back."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.seen: list[tuple[str, str, str]] = []

    async def call(
        self, who: Account, method: str, path: str, body: Json | None = None, *, key: bool = False
    ) -> httpx.Response:
        headers = keyed(who.headers) if key else who.headers
        r = await self.client.request(method, path, json=body, headers=headers)
        self.seen.append((who.id, f"{method} {path}", r.text))
        return r

    async def ok(
        self, who: Account, method: str, path: str, body: Json | None = None, **kw: Any
    ) -> Json:
        r = await self.call(who, method, path, body, **kw)
        assert r.status_code == 200, r.text
        out: Json = r.json()
        return out

    async def refused(
        self, who: Account, method: str, path: str, body: Json | None, status: int, code: str
    ) -> Json:
        r = await self.call(who, method, path, body)
        assert r.status_code == status, r.text
        error: Json = r.json()["error"]
        assert error["code"] == code, error
        return error


async def follow(container: Container) -> None:
    """What the worker does in the background: webhooks, escrow sweeps and jobs, then the
    auction's own sweep, then notifications."""
    await settle(container)
    await sweep(container, escrow_sweeps.payment_windows)
    await run_jobs(container)
    await sweep(container, auction_sweeps.follow)
    await sweep(container, escrow_sweeps.inspections)
    await run_jobs(container)
    await sweep(container, auction_sweeps.follow)
    await sweep(container, notification_sweep.notify)


async def notifications(rec: Recorder, who: Account, escrow_id: str) -> list[str]:
    page = await rec.ok(who, "GET", "/v1/notifications?limit=100")
    return sorted(n["type"] for n in page["data"] if n["related_object"]["id"] == escrow_id)


async def balance(rec: Recorder, who: Account) -> Json:
    found = await rec.ok(who, "GET", "/v1/balance")
    usd = [b for b in found["available"] if b["currency"] == "usd"]
    pending = [b for b in found["pending"] if b["currency"] == "usd"]
    return {
        "available": usd[0]["amount"] if usd else 0,
        "pending": pending[0]["amount"] if pending else 0,
    }


async def test_seed_004_threshold_auction_end_to_end(ctx: Ctx, sandbox: Sandbox) -> None:
    container = ctx.container
    clock = container.clock
    assert isinstance(clock, FrozenClock)
    rec = Recorder(ctx.client)
    seller = person(ctx, await verified_payee(ctx))
    alice, bob, carol = [await payer(ctx) for _ in range(3)]
    admin = await make_user(container, role="admin")
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    costs_before = await ledger_balance(ctx, PROCESSING_COSTS)

    with structlog.testing.capture_logs() as logs:
        # The seller lists the artwork; only the seller (and admins) see its threshold.
        art = await rec.ok(
            seller,
            "POST",
            "/v1/auctions/artworks",
            {"title": "Test Art", "currency": "usd", "threshold": THRESHOLD},
        )
        assert (art["status"], art["threshold"], art["escrow"]) == ("active", THRESHOLD, None)
        path = f"/v1/auctions/artworks/{art['id']}"
        assert (await rec.ok(alice, "GET", path))["threshold"] is None
        listed = await rec.ok(bob, "GET", "/v1/auctions/artworks?status=active")
        assert [a["threshold"] for a in listed["data"] if a["id"] == art["id"]] == [None]
        assert (await rec.ok(admin, "GET", path))["threshold"] == THRESHOLD

        # Below the threshold: kept, not winning, and nothing says by how much.
        low = await rec.ok(alice, "POST", f"{path}/bids", {"amount": 8_000, "currency": "usd"})
        assert (low["status"], low["escrow"]) == ("not_winning", None)
        assert (await rec.ok(alice, "GET", path))["status"] == "active"

        # Bob wins; a payment (an escrow) exists for him alone; others are refused meanwhile.
        won = await rec.ok(bob, "POST", f"{path}/bids", {"amount": WINNING_BID, "currency": "usd"})
        assert won["status"] == "winning"
        first_escrow = won["escrow"]
        shown_to_bob = await rec.ok(bob, "GET", path)
        assert (shown_to_bob["status"], shown_to_bob["escrow"]) == ("pending_payment", first_escrow)
        assert (await rec.ok(alice, "GET", path))["escrow"] is None
        await rec.refused(
            alice,
            "POST",
            f"{path}/bids",
            {"amount": 20_000, "currency": "usd"},
            409,
            "artwork_pending_payment",
        )
        await rec.refused(
            alice, "GET", f"/v1/escrows/{first_escrow}", None, 404, "resource_missing"
        )
        escrow = await rec.ok(bob, "GET", f"/v1/escrows/{first_escrow}")
        assert escrow["payer"] == bob.id
        assert [(a["payee"], a["amount"]) for a in escrow["allocations"]] == [
            (seller.id, WINNING_BID)
        ]
        assert (escrow["payment_window"], escrow["amount"]) == (600, WINNING_BID)
        assert escrow["allocations"][0]["platform_fee"] == 0

        # 1. Bob lets the 10 minutes pass: the escrow expires, the artwork is on sale again.
        clock.advance(timedelta(seconds=601))
        await follow(container)
        assert (await rec.ok(bob, "GET", f"/v1/escrows/{first_escrow}"))["status"] == "expired"
        after = await rec.ok(alice, "GET", path)
        assert (after["status"], after["escrow"]) == ("active", None)
        bids = await rec.ok(bob, "GET", f"{path}/bids")
        assert [(b["id"], b["status"]) for b in bids["data"]] == [(won["id"], "lapsed")]
        assert "payment_window_expired" in await notifications(rec, bob, first_escrow)

        # 2. Carol wins, her card is declined: the escrow is cancelled, back on sale.
        carol_bid = await rec.ok(
            carol, "POST", f"{path}/bids", {"amount": 12_000, "currency": "usd"}
        )
        assert carol_bid["status"] == "winning"
        declined = await rec.call(
            carol,
            "POST",
            f"/v1/escrows/{carol_bid['escrow']}/fund",
            {"payment_method": "pm_card_chargeDeclined"},
            key=True,
        )
        assert declined.status_code == 402, declined.text
        await follow(container)
        assert (await rec.ok(carol, "GET", f"/v1/escrows/{carol_bid['escrow']}"))[
            "status"
        ] == "cancelled"
        assert (await rec.ok(carol, "GET", path))["status"] == "active"
        assert "payment_failed" in await notifications(rec, carol, carol_bid["escrow"])

        # 3. Bob wins again and pays: SOLD, buyer and seller notified, the seller paid.
        won = await rec.ok(bob, "POST", f"{path}/bids", {"amount": WINNING_BID, "currency": "usd"})
        sale = won["escrow"]
        paid = await rec.ok(
            bob, "POST", f"/v1/escrows/{sale}/fund", {"payment_method": "pm_card_visa"}, key=True
        )
        assert paid["status"] == "held"
        assert paid["payment"]["processing_fee"] == STRIPE_FEE
        await follow(container)
        sold = await rec.ok(alice, "GET", path)
        assert (sold["status"], sold["escrow"]) == ("sold", None)
        assert (await rec.ok(bob, "GET", path))["escrow"] == sale
        released = await rec.ok(bob, "GET", f"/v1/escrows/{sale}")
        assert released["status"] == "released"
        (alloc,) = released["allocations"]
        assert (alloc["platform_fee"], alloc["processing_cost"], alloc["net"]) == (
            0,
            STRIPE_FEE,
            SELLER_GETS,
        )
        assert await balance(rec, seller) == {"available": SELLER_GETS, "pending": 0}
        (transfer,) = await sandbox.transfers(sale)
        assert transfer["amount"] == SELLER_GETS
        assert "payment_received" in await notifications(rec, bob, sale)
        assert "payment_received" in await notifications(rec, seller, sale)
        assert "payment_released" in await notifications(rec, seller, alloc["id"])
        mine = await rec.ok(bob, "GET", f"{path}/bids")
        assert [b["status"] for b in mine["data"]] == ["won", "lapsed"]
        await rec.refused(
            alice,
            "POST",
            f"{path}/bids",
            {"amount": 50_000, "currency": "usd"},
            409,
            "artwork_sold",
        )

        # 4. An admin refunds the sale: the seller's transfer is reversed, Bob gets $150.00
        # back, the artwork is on sale again.
        refunded = await rec.ok(
            admin, "POST", f"/v1/escrows/{sale}/refund", {"clawback": True}, key=True
        )
        assert refunded["status"] == "refunded"
        await follow(container)
        again = await rec.ok(alice, "GET", path)
        assert (again["status"], again["escrow"]) == ("active", None)
        (refund,) = await sandbox.refunds(released["payment"]["id"])
        assert refund["amount"] == WINNING_BID
        assert await balance(rec, seller) == {"available": 0, "pending": 0}
        mine = await rec.ok(bob, "GET", f"{path}/bids")
        assert [b["status"] for b in mine["data"]] == ["refunded", "lapsed"]
        # Seller's bid list shows all four bids; the seller sees the threshold.
        every = await rec.ok(seller, "GET", f"{path}/bids")
        assert len(every["data"]) == 4
        assert (await rec.ok(seller, "GET", path))["threshold"] == THRESHOLD

    # No platform fee was taken on the sale. Stripe keeps its $4.65 on a refunded charge: the
    # seller bore it while the sale stood; once refunded, it is a cost to the platform (the
    # processing-costs account is $4.65 further in debit).
    assert await ledger_balance(ctx, PLATFORM_FEES) == fees_before
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == STRIPE_FEE

    # The threshold leaks nowhere: no response to anyone but the seller and admins, no
    # event of the scenario, no log line.
    insiders = {seller.id, admin.id}
    outsiders = [(who, what, text) for who, what, text in rec.seen if who not in insiders]
    assert len(outsiders) > 20
    assert [(w, what) for w, what, text in outsiders if LEAK.search(text)] == []
    assert any(LEAK.search(text) for w, _, text in rec.seen if w == seller.id)  # the grep works
    escrow_ids = {first_escrow, carol_bid["escrow"], sale}
    async with container.db.transaction() as s:
        events = [
            e
            for e in (await s.scalars(select(Event))).all()
            if any(i in e.data for i in escrow_ids)
        ]
    assert len(events) > 10
    assert [e.type for e in events if LEAK.search(e.data)] == []
    assert [e for e in logs if e.get("event") == "bid_placed"]
    assert [e for e in logs if LEAK.search(json.dumps(e, default=str))] == []

    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def test_bids_that_cannot_be_taken_are_refused_and_write_nothing(ctx: Ctx) -> None:
    seller = person(ctx, await verified_payee(ctx))
    buyer = await payer(ctx)
    r = await ctx.client.post(
        "/v1/auctions/artworks",
        json={"title": "Refusals", "currency": "usd", "threshold": THRESHOLD},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    path = f"/v1/auctions/artworks/{r.json()['id']}/bids"
    _, api_key = await make_api_key(ctx.container)
    cases: list[tuple[dict[str, str], Json, int, str]] = [
        (seller.headers, {"amount": WINNING_BID, "currency": "usd"}, 403, "role_required"),
        (bearer(api_key), {"amount": WINNING_BID, "currency": "usd"}, 403, "user_token_required"),
        (buyer.headers, {"amount": WINNING_BID, "currency": "eur"}, 400, "currency_mismatch"),
        (buyer.headers, {"amount": 0, "currency": "usd"}, 400, "parameter_invalid"),
        (buyer.headers, {"amount": "150.00", "currency": "usd"}, 400, "parameter_invalid"),
        (buyer.headers, {"amount": WINNING_BID}, 400, "parameter_missing"),
        (
            buyer.headers,
            {"amount": WINNING_BID, "currency": "usd", "threshold": 1},
            400,
            "parameter_unknown",
        ),
    ]
    for headers, body, status, code in cases:
        r = await ctx.client.post(path, json=body, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    r = await ctx.client.post(
        "/v1/auctions/artworks/art_01J00000000000000000000000/bids",
        json={"amount": WINNING_BID, "currency": "usd"},
        headers=buyer.headers,
    )
    assert (r.status_code, r.json()["error"]["code"]) == (404, "resource_missing"), r.text
    listed = await ctx.client.get(path, headers=seller.headers)
    assert listed.json()["data"] == []
    shown = await ctx.client.get(path.removesuffix("/bids"), headers=buyer.headers)
    assert (shown.json()["status"], shown.json()["threshold"]) == ("active", None)


# --- concurrent winning bids --------------------------------------------------------------------


async def test_of_concurrent_winning_bids_exactly_one_wins_and_one_escrow_exists(
    own: Ctx,
) -> None:
    ctx = own
    seller = person(ctx, await verified_payee(ctx))
    buyers = [await payer(ctx) for _ in range(12)]
    r = await ctx.client.post(
        "/v1/auctions/artworks",
        json={"title": "Contested", "currency": "usd", "threshold": THRESHOLD},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    path = f"/v1/auctions/artworks/{r.json()['id']}/bids"

    async def bid(who: Person, amount: int) -> tuple[int, str]:
        r = await ctx.client.post(
            path, json={"amount": amount, "currency": "usd"}, headers=who.headers
        )
        body = r.json()
        return r.status_code, body["status"] if r.status_code == 200 else body["error"]["code"]

    results = await asyncio.gather(*(bid(b, THRESHOLD + 100 * i) for i, b in enumerate(buyers)))
    assert Counter(results) == {(200, "winning"): 1, (409, "artwork_pending_payment"): 11}
    async with ctx.container.db.transaction() as s:
        escrows = (await s.scalars(select(Escrow))).all()
    assert len(escrows) == 1
    assert escrows[0].meta["artwork"] == r.json()["id"]
