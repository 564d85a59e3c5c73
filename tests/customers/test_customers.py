"""Customers and saved payment methods, through the real adapter against the sandbox."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from escrowd.bootstrap import Container
from escrowd.customers.models import Customer
from escrowd.customers.service import (
    default_payment_method,
    ensure_customer,
    get_or_create_customer,
)
from escrowd.users.models import User
from tests.accounts.conftest import Browser, local
from tests.integration.conftest import Account, assert_error, make_user


async def user_row(container: Container, account: Account) -> User:
    async with container.db.transaction() as s:
        user = await s.get(User, account.id)
    assert user is not None
    return user


async def customers_of(container: Container, user_id: str) -> int:
    async with container.db.transaction() as s:
        stmt = select(func.count()).select_from(Customer).where(Customer.user_id == user_id)
        return int((await s.execute(stmt)).scalar_one())


async def attach(
    client: httpx.AsyncClient, payer: Account, pm: str = "pm_card_visa", **extra: object
) -> httpx.Response:
    body = {"payment_method": pm, **extra}
    return await client.post("/v1/payment_methods/attach", json=body, headers=payer.headers)


async def test_a_payer_gets_one_customer_however_often_it_is_asked_for(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container)
    user = await user_row(container, payer)
    first, second = await asyncio.gather(
        ensure_customer(container, user=user), ensure_customer(container, user=user)
    )
    assert first.provider_customer_id == second.provider_customer_id
    assert first.provider_customer_id.startswith("cus_")
    async with container.db.transaction() as s:
        again = await get_or_create_customer(s, container=container, user=user)
    assert again.provider_customer_id == first.provider_customer_id
    r = await client.post("/v1/customers/me/setup", json={}, headers=payer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["customer"] == first.provider_customer_id
    assert await customers_of(container, payer.id) == 1
    me = await client.get("/v1/customers/me", headers=payer.headers)
    assert me.json()["id"] == first.provider_customer_id
    assert me.json()["default_payment_method"] is None


async def test_get_or_create_customer_creates_in_the_callers_session_on_postgresql(
    container: Container,
    client: httpx.AsyncClient,
) -> None:
    payer = await make_user(container)
    user = await user_row(container, payer)
    async with container.db.transaction() as s:
        if container.db.dialect == "sqlite":
            with pytest.raises(RuntimeError, match="ensure_customer"):
                await get_or_create_customer(s, container=container, user=user)
            return
        made = await get_or_create_customer(s, container=container, user=user)
    assert (await ensure_customer(container, user=user)).provider_customer_id == (
        made.provider_customer_id
    )


async def test_a_saved_test_card_is_listed_with_brand_last4_and_expiry_and_becomes_the_default(
    client: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container)
    r = await attach(client, payer)
    assert r.status_code == 200, r.text
    visa = r.json()
    assert visa["id"].startswith("pm_")
    assert visa["id"] != "pm_card_visa"  # the shortcut makes a new payment method
    assert visa["card"]["brand"] == "visa"
    assert visa["card"]["last4"] == "4242"
    assert visa["default"] is True  # the first card saved

    r = await attach(client, payer, "pm_card_mastercard")
    master = r.json()
    assert master["default"] is False
    listed = await client.get("/v1/payment_methods", headers=payer.headers)
    assert listed.status_code == 200
    by_id = {pm["id"]: pm for pm in listed.json()["data"]}
    assert set(by_id) == {visa["id"], master["id"]}
    assert by_id[master["id"]]["card"]["last4"] == "4444"
    assert isinstance(by_id[visa["id"]]["card"]["exp_year"], int)

    r = await client.post(
        "/v1/customers/me", json={"default_payment_method": master["id"]}, headers=payer.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["default_payment_method"] == master["id"]
    async with container.db.transaction() as s:
        assert await default_payment_method(s, user_id=payer.id) == master["id"]
    r = await attach(client, payer, "pm_card_amex", default=True)
    async with container.db.transaction() as s:
        assert await default_payment_method(s, user_id=payer.id) == r.json()["id"]
    # At the provider too: the customer's invoice_settings name the same card.
    assert container.provider is not None
    other = await make_user(container)
    assert_error(
        await client.get("/v1/customers/me", headers=other.headers), 404, "invalid_request_error"
    )
    r = await client.get("/v1/payment_methods", headers=other.headers)
    assert r.json()["data"] == []


async def test_the_hosted_card_form_returns_a_payment_method_to_attach(
    client: httpx.AsyncClient, browser: Browser, container: Container
) -> None:
    payer = await make_user(container)
    r = await client.post(
        "/v1/customers/me/setup",
        json={"return_url": "https://market.test/cards/saved", "state": "s1"},
        headers=payer.headers,
    )
    assert r.status_code == 200, r.text
    setup = r.json()
    assert setup["setup_intent"].startswith("seti_")
    assert setup["client_secret"].startswith(setup["setup_intent"])
    form_url = setup["card_form_url"]
    assert form_url.startswith(container.settings.public_url + "/sandbox/stripe/checkout/card-form")

    saved = await browser.save_card(form_url)
    assert saved.status_code == 303, saved.text
    back = httpx.URL(saved.headers["location"])
    assert back.path == "/cards/saved"
    assert back.params["state"] == "s1"
    pm = back.params["payment_method"]
    r = await attach(client, payer, pm)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["card"]["last4"]) == (pm, "4242")
    assert (await attach(client, payer, pm)).status_code == 200  # again: harmless
    listed = await client.get("/v1/payment_methods", headers=payer.headers)
    assert [p["id"] for p in listed.json()["data"]] == [pm]
    assert local(form_url).startswith("/sandbox/stripe/checkout/card-form?")
