"""Stripe's Payment Element on the pages, as escrowd serves them with the real Stripe, without
a browser and without Stripe.

The app runs with ``ESCROWD_PROVIDER=stripe``'s settings and a publishable key while its
Stripe adapter keeps talking to the sandbox (the container's provider unchanged: Stripe cannot
be reached from the tests). What Stripe.js would do in the payer's browser -- confirm the
escrow's PaymentIntent or the SetupIntent with a card -- is done over the sandbox's own API;
then the browser's return is requested with the query Stripe.js adds, made to say the opposite
of what happened: the page must tell what the provider says. Both databases."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from escrowd.app import create_app
from escrowd.config import ProviderMode
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.web.service import CSRF_COOKIE, return_token
from tests.escrows.conftest import Ctx, keyed, mount, verified_payee
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import Account, make_user
from tests.web.test_flow_pages import api, form_of
from tests.web.test_pages import sign_in
from tests.web.test_payment_methods_page import at_sandbox

PUBLISHABLE_KEY = "pk_test_escrowd_pages"
STRIPE_JS = '<script src="https://js.stripe.com/v3/"></script>'
BASE = "http://escrowd.test"


def live_mode(ctx: Ctx, **keys: str) -> FastAPI:
    """The app as it runs against the real Stripe (its settings), its provider the sandbox."""
    settings = ctx.container.settings.model_copy(
        update={"provider": ProviderMode.stripe, "stripe_secret_key": SANDBOX_API_KEY, **keys}
    )
    return mount(create_app(replace(ctx.container, settings=settings), background=False))


@pytest.fixture
def live_app(ctx: Ctx) -> FastAPI:
    return live_mode(ctx, stripe_publishable_key=PUBLISHABLE_KEY)


@pytest.fixture
async def live(live_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on ``live_app``."""
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as web:
        yield web


async def as_(web: httpx.AsyncClient, who: Account) -> httpx.AsyncClient:
    web.cookies.clear()
    assert (await sign_in(web, who)).status_code == 303
    return web


def checkout_of(page: httpx.Response) -> dict[str, str]:
    """The Payment Element's ``data-*`` attributes on the page."""
    found = re.search(r"<section data-stripe-checkout ([^>]*)>", page.text)
    assert found, page.text
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', found[1])}


async def sandbox_post(ctx: Ctx, path: str, data: dict[str, str]) -> httpx.Response:
    """What Stripe.js sends Stripe from the payer's browser, sent to the sandbox."""
    return await ctx.client.post(
        f"/sandbox/stripe/v1/{path}",
        data=data,
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )


async def _escrow(ctx: Ctx, payer: Account, payee: Account, amount: int) -> str:
    r = await ctx.client.post(
        "/v1/escrows",
        json={"currency": "usd", "amount": amount, "payer": payer.id,
              "allocations": [{"payee": payee.id, "amount": amount}]},
        headers=keyed(payer.headers),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_the_escrow_is_paid_in_the_payment_element_and_its_return_asks_the_provider(
    ctx: Ctx, live: httpx.AsyncClient
) -> None:
    payer = await make_user(ctx.container, role="client")
    payee = await verified_payee(ctx)
    escrow = await _escrow(ctx, payer, payee, 5_000)
    path = f"/app/escrows/{escrow}"

    web = await as_(live, payer)
    page = await web.get(path)
    assert page.status_code == 200, page.text
    assert STRIPE_JS in page.text
    box = checkout_of(page)
    payment = (await api(ctx, payer, "GET", f"/v1/escrows/{escrow}"))["payment"]["id"]
    intent = await at_sandbox(ctx, f"payment_intents/{payment}")
    # The escrow's own PaymentIntent, unconfirmed, for its amount; its secret for Stripe.js.
    assert (intent["status"], intent["amount"], intent["currency"]) == (
        "requires_payment_method", 5_000, "usd"
    )  # fmt: skip
    assert intent["metadata"]["escrow_id"] == escrow
    assert box["mode"] == "payment"
    assert box["key"] == PUBLISHABLE_KEY
    assert box["client-secret"] == intent["client_secret"]
    assert box["return-url"] == f"{BASE}{path}/stripe-return"
    # No sandbox card form with the real Stripe: the Payment Element takes the card.
    assert f'action="{path}/pay"' not in page.text
    assert "Test cards" not in page.text
    again = await web.get(path)
    assert checkout_of(again)["client-secret"] == intent["client_secret"]  # the same intent

    # Only the payer gets the client secret (it lets a browser pay the escrow).
    admin = await make_user(ctx.container, role="admin")
    for other in (payee, admin):
        seen = await (await as_(live, other)).get(path)
        assert seen.status_code == 200, seen.text
        assert intent["client_secret"] not in seen.text
        assert "data-stripe-checkout" not in seen.text
        assert STRIPE_JS not in seen.text
    stranger = await as_(live, await make_user(ctx.container, role="client"))
    assert (await stranger.get(f"{path}/stripe-return")).status_code == 404

    # Stripe.js confirms with a declining card; the return claims success.
    declined = await sandbox_post(
        ctx, f"payment_intents/{payment}/confirm", {"payment_method": "pm_card_chargeDeclined"}
    )
    assert declined.status_code == 402, declined.text
    web = await as_(live, payer)
    back = await web.get(
        f"{path}/stripe-return?payment_intent=pi_forged&payment_intent_client_secret=x"
        "&redirect_status=succeeded"
    )
    assert back.status_code == 303, back.text
    assert back.headers["location"] == path
    shown = await web.get(path)
    assert "Payment failed: Your card was declined." in shown.text
    assert 'data-testid="escrow-status">requires payment<' in shown.text
    assert checkout_of(shown)["client-secret"] == intent["client_secret"]  # pay again
    failed = await api(ctx, payer, "GET", f"/v1/escrows/{escrow}")
    assert failed["last_payment_error"]["decline_code"] == "generic_decline"

    # Then a good card; the return claims it failed.
    paid = await sandbox_post(
        ctx, f"payment_intents/{payment}/confirm", {"payment_method": "pm_card_visa"}
    )
    assert paid.status_code == 200, paid.text
    back = await web.get(f"{path}/stripe-return?payment_intent={payment}&redirect_status=failed")
    assert back.status_code == 303, back.text
    held = await web.get(path)
    assert 'data-testid="escrow-status">held<' in held.text
    assert "data-stripe-checkout" not in held.text
    assert STRIPE_JS not in held.text
    escrow_now = await api(ctx, payer, "GET", f"/v1/escrows/{escrow}")
    assert (escrow_now["status"], escrow_now["amount_held"]) == ("held", 5_000)
    # The return again (a reload) moves nothing more.
    assert (await web.get(f"{path}/stripe-return")).status_code == 303
    events = await api(ctx, payer, "GET", f"/v1/events?object_id={escrow}")
    assert sum(e["type"] == "escrow.funded" for e in events["data"]) == 1


async def test_3d_secure_left_unfinished_is_told_from_the_payment_intent(
    ctx: Ctx, live: httpx.AsyncClient
) -> None:
    payer = await make_user(ctx.container, role="client")
    escrow = await _escrow(ctx, payer, await verified_payee(ctx), 1_200)
    path = f"/app/escrows/{escrow}"
    web = await as_(live, payer)
    box = checkout_of(await web.get(path))
    payment = box["client-secret"].split("_secret_")[0]
    asked = await sandbox_post(
        ctx,
        f"payment_intents/{payment}/confirm",
        {"payment_method": "pm_card_authenticationRequired", "return_url": box["return-url"]},
    )
    assert asked.json()["status"] == "requires_action", asked.text
    back = await web.get(f"{path}/stripe-return?redirect_status=succeeded")
    assert back.status_code == 303, back.text
    page = await web.get(path)
    assert 'data-testid="escrow-status">requires action<' in page.text
    assert "Your bank asks you to confirm this payment (3-D Secure)" in page.text
    shown = await api(ctx, payer, "GET", f"/v1/escrows/{escrow}")
    assert shown["status"] == "requires_action"


async def test_add_a_card_saves_it_only_when_the_provider_says_the_setup_succeeded(
    ctx: Ctx, live_app: FastAPI, live: httpx.AsyncClient
) -> None:
    payer = await make_user(ctx.container, role="client")
    web = await as_(live, payer)
    page = await web.get("/app/payment-methods")
    assert STRIPE_JS not in page.text  # loaded where a card is typed only
    started = await web.post(
        "/app/payment-methods/setup", data=form_of(page, "/app/payment-methods/setup")
    )
    assert started.status_code == 200, started.text
    assert STRIPE_JS in started.text
    box = checkout_of(started)
    assert (box["mode"], box["key"]) == ("setup", PUBLISHABLE_KEY)
    setup = box["client-secret"].split("_secret_")[0]
    intent = await at_sandbox(ctx, f"setup_intents/{setup}")
    assert intent["client_secret"] == box["client-secret"]
    me = await api(ctx, payer, "GET", "/v1/customers/me")
    assert intent["customer"] == me["id"]
    back = box["return-url"]
    assert parse_qs(urlsplit(back).query)["si"] == [setup]
    claims_success = "&setup_intent=seti_forged&redirect_status=succeeded"

    # Not confirmed yet, though the return says it succeeded: nothing saved.
    early = await web.get(back + claims_success)
    assert early.status_code == 400, early.text
    assert "No card was saved" in early.text
    # Stripe.js confirms with a declining card: the provider's reason is shown.
    refused = await sandbox_post(
        ctx, f"setup_intents/{setup}/confirm", {"payment_method": "pm_card_chargeDeclined"}
    )
    assert refused.status_code == 402, refused.text
    declined = await web.get(back + claims_success)
    assert declined.status_code == 402, declined.text
    assert "Your card was declined." in declined.text
    assert (await api(ctx, payer, "GET", "/v1/payment_methods"))["data"] == []

    # Another payer's setup, named in a link made for this browser: not theirs to save.
    other = await make_user(ctx.container, role="client")
    theirs = (await api(ctx, other, "POST", "/v1/customers/me/setup", {}))["setup_intent"]
    csrf = web.cookies.get(CSRF_COOKIE, path="/app")
    assert csrf
    token = return_token(ctx.container, csrf, f"payment-methods:{theirs}")
    assert (
        await web.get(f"/app/payment-methods/setup-return?si={theirs}&t={token}")
    ).status_code == 404
    # This setup's link with another browser's cookie: refused.
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as elsewhere:
        assert (await (await as_(elsewhere, payer)).get(back)).status_code == 403

    confirmed = await sandbox_post(
        ctx, f"setup_intents/{setup}/confirm", {"payment_method": "pm_card_visa"}
    )
    assert confirmed.status_code == 200, confirmed.text
    saved = await web.get(back + "&redirect_status=failed")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/app/payment-methods?done=saved"
    cards = (await api(ctx, payer, "GET", "/v1/payment_methods"))["data"]
    assert [(c["card"]["last4"], c["default"]) for c in cards] == [("4242", True)]
    assert "ending 4242" in (await web.get("/app/payment-methods")).text


async def test_without_a_publishable_key_the_pages_say_so(ctx: Ctx) -> None:
    app = live_mode(ctx)
    payer = await make_user(ctx.container, role="client")
    escrow = await _escrow(ctx, payer, await verified_payee(ctx), 900)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        await as_(web, payer)
        page = await web.get(f"/app/escrows/{escrow}")
        assert "ESCROWD_STRIPE_PUBLISHABLE_KEY" in page.text
        assert STRIPE_JS not in page.text
        cards = await web.get("/app/payment-methods")
        started = await web.post(
            "/app/payment-methods/setup", data=form_of(cards, "/app/payment-methods/setup")
        )
        assert started.status_code == 400
        assert "ESCROWD_STRIPE_PUBLISHABLE_KEY" in started.text
