"""Saved cards in the app, without a browser: the payment-methods page lists them, Add a card
goes to the sandbox's card form and its return attaches the card (the form's return token
checked), the default is changed, the escrow page pays with a chosen saved card once per
form key, and cards are removed (by their owner only; the default moves to the newest other
card; a removed card is no longer offered nor paid with). Both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete

from escrowd.api import idempotency
from escrowd.clock import FrozenClock
from escrowd.customers import service as customers
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from tests.escrows.conftest import Ctx, keyed, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_
from tests.web.test_flow_pages import api, form_of
from tests.web.test_pages import csrf_of


async def test_a_payer_saves_cards_picks_the_default_and_pays_with_one_once(ctx: Ctx) -> None:
    payer = await make_user(ctx.container, role="client")
    web = await as_(ctx, payer)
    empty = await web.get("/app/payment-methods")
    assert empty.status_code == 200, empty.text
    assert "No saved cards yet." in empty.text
    assert 'href="/app/payment-methods"' in empty.text  # in the payer's navigation

    forged = await web.post("/app/payment-methods/setup", data={})
    assert forged.status_code == 403  # no CSRF token
    started = await web.post(
        "/app/payment-methods/setup", data=form_of(empty, "/app/payment-methods/setup")
    )
    assert started.status_code == 303, started.text
    form_url = urlsplit(started.headers["location"])
    back = parse_qs(form_url.query)["return_url"][0]
    assert "/app/payment-methods/card-return?t=" in back
    token = parse_qs(urlsplit(back).query)["t"][0]

    declined = await web.get(
        f"/app/payment-methods/card-return?t={token}&payment_method=pm_card_chargeDeclined"
    )
    assert declined.status_code == 402, declined.text
    for pm in ("pm_card_visa", "pm_card_mastercard"):
        saved = await web.get(f"/app/payment-methods/card-return?t={token}&payment_method={pm}")
        assert saved.status_code == 303, saved.text
    listed = await api(ctx, payer, "GET", "/v1/payment_methods")
    assert len(listed["data"]) == 2
    by_last4 = {c["card"]["last4"]: c for c in listed["data"]}
    visa, master = by_last4["4242"]["id"], by_last4["4444"]["id"]
    assert by_last4["4242"]["default"]  # the first card saved
    page = await web.get("/app/payment-methods?done=saved")
    assert "Card saved." in page.text
    assert "ending 4242" in page.text
    assert "ending 4444" in page.text
    assert f'data-testid="card-{visa}"' in page.text
    # The first card saved is the default; the other offers Make default.
    assert f"/app/payment-methods/{master}/default" in page.text
    assert f"/app/payment-methods/{visa}/default" not in page.text
    made = await web.post(
        f"/app/payment-methods/{master}/default",
        data=form_of(page, f"/app/payment-methods/{master}/default"),
    )
    assert made.status_code == 303, made.text
    me = await api(ctx, payer, "GET", "/v1/customers/me")
    assert me["default_payment_method"] == master

    payee = await verified_payee(ctx)
    r = await ctx.client.post(
        "/v1/escrows",
        json={"currency": "usd", "amount": 5_000, "payer": payer.id,
              "allocations": [{"payee": payee.id, "amount": 5_000}]},
        headers=keyed(payer.headers),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    escrow = r.json()["id"]
    page = await web.get(f"/app/escrows/{escrow}")
    assert 'name="payment_method"' in page.text
    assert "(default)" in page.text
    pay = f"/app/escrows/{escrow}/pay"
    fields = next(f for f in page.text.split("<form") if 'name="payment_method"' in f)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', fields))
    assert hidden["idempotency_key"].startswith("web_")
    other_values = await web.post(pay, data={**hidden, "payment_method": "pm_nope"})
    assert other_values.status_code >= 400  # refused: the key stays free
    # The same form while a twin of it is being paid (its key claimed, not finished): 409,
    # nothing charged; the twin's key is let go here as a refused payment lets it go.
    async with ctx.container.db.transaction() as session:
        twin = await idempotency.claim_in(
            session, container=ctx.container, scope=payer.id, key=hidden["idempotency_key"],
            path=pay, fingerprint=idempotency.request_fingerprint(
                "POST", pay, b"", f"{escrow}:{visa}".encode()
            ),
        )  # fmt: skip
        assert not isinstance(twin, bytes)
    busy = await web.post(pay, data={**hidden, "payment_method": visa})
    assert busy.status_code == 409, busy.text
    assert "being sent already" in busy.text
    assert (await api(ctx, payer, "GET", f"/v1/escrows/{escrow}"))["status"] == "requires_payment"
    async with ctx.container.db.transaction() as session:
        await session.execute(
            delete(idempotency.IdempotencyKey).where(
                idempotency.IdempotencyKey.key == hidden["idempotency_key"]
            )
        )
    first = await web.post(pay, data={**hidden, "payment_method": visa})
    assert first.status_code == 303, first.text
    again = await web.post(pay, data={**hidden, "payment_method": visa})
    assert again.status_code == 303, again.text  # the same form again: the same answer
    reused = await web.post(pay, data={**hidden, "payment_method": master})
    assert reused.status_code == 422, reused.text
    held = await api(ctx, payer, "GET", f"/v1/escrows/{escrow}")
    assert held["status"] == "held"
    assert held["amount_held"] == 5_000
    charges = await api(ctx, payer, "GET", f"/v1/events?object_id={escrow}")
    assert sum(e["type"] == "escrow.funded" for e in charges["data"]) == 1

    # A return link made for another browser (another CSRF cookie) is refused.
    other = await as_(ctx, await make_user(ctx.container, role="client"))
    stolen = await other.get(
        f"/app/payment-methods/card-return?t={token}&payment_method=pm_card_visa"
    )
    assert stolen.status_code == 403
    # Another payer's card cannot be made one's default.
    theirs = await other.post(
        f"/app/payment-methods/{master}/default",
        data={"csrf_token": csrf_of(await other.get("/app/payment-methods"))},
    )
    assert theirs.status_code == 404


async def at_sandbox(ctx: Ctx, path: str) -> dict[str, Any]:
    """An object as the Stripe sandbox holds it (a dashboard's view)."""
    r = await ctx.client.get(
        f"/sandbox/stripe/v1/{path}", headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_a_payer_removes_cards_the_default_moves_and_escrows_no_longer_offer_them(
    ctx: Ctx, clock: FrozenClock
) -> None:
    payer = await make_user(ctx.container, role="client")
    saved = []
    for pm in ("pm_card_visa", "pm_card_mastercard", "pm_card_amex"):
        made = await api(ctx, payer, "POST", "/v1/payment_methods/attach", {"payment_method": pm})
        saved.append(made["id"])
        clock.advance(timedelta(minutes=1))  # saved one after the other
    visa, master, amex = saved
    remove = f"/app/payment-methods/{visa}/remove"

    # Another payer cannot remove it: the 404 page, and the card stays saved and the default.
    other = await as_(ctx, await make_user(ctx.container, role="client"))
    theirs = await other.post(
        remove, data={"csrf_token": csrf_of(await other.get("/app/payment-methods"))}
    )
    assert theirs.status_code == 404, theirs.text
    assert (await api(ctx, payer, "GET", "/v1/customers/me"))["default_payment_method"] == visa
    assert (await at_sandbox(ctx, f"payment_methods/{visa}"))["customer"] is not None

    web = await as_(ctx, payer)
    page = await web.get("/app/payment-methods")
    assert 'aria-label="Remove the card ending 4242"' in page.text
    forged = await web.post(remove, data={})
    assert forged.status_code == 403  # no CSRF token: refused before anything runs
    gone = await web.post(remove, data=form_of(page, remove))
    assert gone.status_code == 303, gone.text
    after = await web.get(gone.headers["location"])
    assert "Card removed." in after.text
    assert "ending 4242" not in after.text
    # The default was removed: the most recently saved other card is the default now, here
    # and at the provider; the removed card is detached there.
    listed = await api(ctx, payer, "GET", "/v1/payment_methods")
    assert {c["id"]: c["default"] for c in listed["data"]} == {master: False, amex: True}
    customer = await api(ctx, payer, "GET", "/v1/customers/me")
    assert customer["default_payment_method"] == amex
    at_provider = await at_sandbox(ctx, f"customers/{customer['id']}")
    assert at_provider["invoice_settings"]["default_payment_method"] == amex
    assert (await at_sandbox(ctx, f"payment_methods/{visa}"))["customer"] is None
    # The provider call carried the removal's key: sent again, the provider answers as it did
    # the first time (without it, a card no longer attached is refused).
    again_at_provider = await ctx.container.provider.detach_payment_method(
        payment_method=visa, idempotency_key=customers.detach_key(payer.id, visa)
    )
    assert again_at_provider.id == visa
    removed_again = await web.post(remove, data=form_of(page, remove))
    assert removed_again.status_code == 404  # gone already

    payee = await verified_payee(ctx)
    r = await ctx.client.post(
        "/v1/escrows",
        json={"currency": "usd", "amount": 2_500, "payer": payer.id,
              "allocations": [{"payee": payee.id, "amount": 2_500}]},
        headers=keyed(payer.headers),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    escrow = r.json()["id"]
    pay_page = await web.get(f"/app/escrows/{escrow}")
    assert f'value="{visa}"' not in pay_page.text
    assert f'<option value="{amex}" selected>' in pay_page.text
    pay = f"/app/escrows/{escrow}/pay"
    fields = next(f for f in pay_page.text.split("<form") if 'name="payment_method"' in f)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', fields))
    refused = await web.post(pay, data={**hidden, "payment_method": visa})
    assert refused.status_code >= 400, refused.text  # a removed card pays nothing
    assert (await api(ctx, payer, "GET", f"/v1/escrows/{escrow}"))["status"] == "requires_payment"

    # Through the API: a card already detached at the provider (a removal that reached it but
    # not escrowd) is forgotten; the last card leaves no default.
    await ctx.container.provider.detach_payment_method(
        payment_method=master, idempotency_key=f"elsewhere-{master}"
    )
    for pm in (master, amex):
        r = await ctx.client.post(f"/v1/payment_methods/{pm}/detach", headers=keyed(payer.headers))
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["default"]) == (pm, False)
    assert (await api(ctx, payer, "GET", "/v1/payment_methods"))["data"] == []
    assert (await api(ctx, payer, "GET", "/v1/customers/me"))["default_payment_method"] is None
    assert 'name="payment_method"' not in (await web.get(f"/app/escrows/{escrow}")).text
