"""Seed 004's pages without a browser: the threshold stays the seller's secret in the HTML,
bids typed on the page go through the auctions service's rules, and a winning bid opens the
payment modal with the escrow's deadline."""

from __future__ import annotations

import re

import httpx

from escrowd.clock import unix
from tests.escrows.conftest import Ctx, keyed, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account, make_user
from tests.web.test_pages import csrf_of, sign_in


async def as_(ctx: Ctx, who: Account) -> httpx.AsyncClient:
    ctx.client.cookies.clear()
    r = await sign_in(ctx.client, who)
    assert r.status_code == 303, r.text
    return ctx.client


async def test_the_threshold_stays_secret_and_bids_follow_the_auction_rules(ctx: Ctx) -> None:
    seller = await verified_payee(ctx)
    web = await as_(ctx, seller)
    listing = await web.get("/app/auctions")
    assert "List an artwork" in listing.text
    made = await web.post(
        "/app/auctions",
        data={"csrf_token": csrf_of(listing), "title": "Harbour at Dusk", "currency": "usd",
              "threshold": "100.00"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    page_path = made.headers["location"]
    artwork_id = page_path.rsplit("/", 1)[1]
    mine = await web.get(page_path)
    assert "Secret threshold" in mine.text
    assert "100.00 USD" in mine.text
    # A seller cannot bid (not even by posting the form the page does not show them).
    refused = await web.post(f"{page_path}/bids", data={"csrf_token": csrf_of(mine), "amount": "5"})
    assert refused.status_code == 403
    assert "Bids are placed by buyers" in refused.text

    # A payee without a verified account cannot list.
    novice = await make_user(ctx.container, role="worker")
    web = await as_(ctx, novice)
    listing = await web.get("/app/auctions")
    no = await web.post(
        "/app/auctions",
        data={"csrf_token": csrf_of(listing), "title": "Sketch", "currency": "usd",
              "threshold": "10.00"},
    )  # fmt: skip
    assert no.status_code == 409, no.text
    assert 'value="Sketch"' in no.text  # the form keeps what was typed

    buyer = await make_user(ctx.container, role="client")
    web = await as_(ctx, buyer)
    seen = await web.get(page_path)
    assert seen.status_code == 200
    assert "Secret threshold" not in seen.text
    assert not re.search(r"100[.,]00", seen.text)
    assert 'role="dialog"' not in seen.text
    bad = await web.post(f"{page_path}/bids", data={"csrf_token": csrf_of(seen), "amount": "1.234"})
    assert bad.status_code == 400
    assert "more than 2 decimal places" in bad.text
    low = await web.post(f"{page_path}/bids", data={"csrf_token": csrf_of(seen), "amount": "99.99"})
    assert low.status_code == 303
    after = await web.get(low.headers["location"])
    assert "99.99 USD is not winning" in after.text
    won = await web.post(f"{page_path}/bids", data={"csrf_token": csrf_of(seen), "amount": "100"})
    assert won.status_code == 303
    modal = await web.get(won.headers["location"])
    assert 'role="dialog"' in modal.text
    assert "Pay 100.00 USD" in modal.text
    bids = await web.get(f"/v1/auctions/artworks/{artwork_id}/bids", headers=buyer.headers)
    escrow_id = next(b["escrow"] for b in bids.json()["data"] if b["status"] == "winning")
    escrow = (await web.get(f"/v1/escrows/{escrow_id}", headers=buyer.headers)).json()
    assert f'data-deadline="{escrow["expires_at"]}"' in modal.text
    assert escrow["expires_at"] - unix(ctx.container.clock.now()) == 600

    # Another buyer sees it waiting, without the modal, and cannot bid meanwhile.
    other = await make_user(ctx.container, role="client")
    web = await as_(ctx, other)
    waiting = await web.get(page_path)
    assert "A winning bidder is paying" in waiting.text
    assert 'role="dialog"' not in waiting.text
    assert "Place bid" not in waiting.text
    late = await web.post(
        f"{page_path}/bids", data={"csrf_token": csrf_of(waiting), "amount": "500"}
    )
    assert late.status_code == 409
    assert "waiting for a winning bidder" in late.text
    # The API says the same: one escrow, the artwork pending.
    art = await web.post(
        f"/v1/auctions/artworks/{artwork_id}/bids",
        json={"amount": 50_000, "currency": "usd"},
        headers=keyed(other.headers),
    )
    assert art.status_code == 409
