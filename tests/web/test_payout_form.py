"""The payout request form's idempotency key: a hidden field made when the balance page is
rendered and kept as the API keeps an Idempotency-Key, so the same form sent twice (one
after the other, or both at once) requests one payout, while a refused attempt leaves the
key free for the corrected form."""

from __future__ import annotations

import asyncio

from tests.balances.conftest import balance_of
from tests.escrows.conftest import Ctx
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account
from tests.payouts.conftest import earned
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import form_of


async def payouts_of(ctx: Ctx, who: Account) -> list[dict[str, object]]:
    r = await ctx.client.get("/v1/payouts", headers=who.headers)
    assert r.status_code == 200, r.text
    data: list[dict[str, object]] = r.json()["data"]
    return data


async def test_a_payout_form_sent_twice_requests_one_payout(ctx: Ctx) -> None:
    worker = await earned(ctx, 5_000)
    web = await as_(ctx, worker)
    page = await web.get("/app/balance")
    fields = form_of(page, "/app/payouts")
    assert fields["idempotency_key"].startswith("web_")
    # Each rendering of the page makes a new key.
    assert (
        form_of(await web.get("/app/balance"), "/app/payouts")["idempotency_key"]
        != (fields["idempotency_key"])
    )
    form = {**fields, "amount": "10.00", "currency": "usd", "provider": "stripe"}

    first = await web.post("/app/payouts", data=form)
    again = await web.post("/app/payouts", data=form)
    assert first.status_code == again.status_code == 303, again.text
    assert first.headers["location"] == again.headers["location"]
    assert first.headers["location"].startswith("/app/balance?requested=po_")
    assert len(await payouts_of(ctx, worker)) == 1

    # Sent twice at once (a double click while the first is still on its way).
    fresh = form_of(await web.get("/app/balance"), "/app/payouts")
    twin = {**fresh, "amount": "5.00", "currency": "usd", "provider": "stripe"}
    a, b = await asyncio.gather(
        web.post("/app/payouts", data=twin), web.post("/app/payouts", data=twin)
    )
    assert a.status_code == b.status_code == 303, (a.text, b.text)
    assert a.headers["location"] == b.headers["location"]
    assert len(await payouts_of(ctx, worker)) == 2
    assert (await balance_of(ctx, worker))["available"] == {"usd": 5_000 - 1_000 - 500}

    # The same key with another amount is refused, and requests nothing.
    other = await web.post("/app/payouts", data={**twin, "amount": "6.00"})
    assert other.status_code == 422
    assert "sent already with other values" in other.text
    assert len(await payouts_of(ctx, worker)) == 2

    # A refused attempt stores nothing: the corrected form with the same key goes through.
    fresh = form_of(await web.get("/app/balance"), "/app/payouts")
    too_much = await web.post(
        "/app/payouts", data={**fresh, "amount": "99.00", "currency": "usd", "provider": "stripe"}
    )
    assert too_much.status_code == 400, too_much.text
    assert "more than the available balance" in too_much.text
    fixed = await web.post(
        "/app/payouts", data={**fresh, "amount": "1.00", "currency": "usd", "provider": "stripe"}
    )
    assert fixed.status_code == 303, fixed.text
    assert len(await payouts_of(ctx, worker)) == 3
    assert (await balance_of(ctx, worker))["available"] == {"usd": 5_000 - 1_000 - 500 - 100}
