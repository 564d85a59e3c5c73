"""The web app's pages without a browser: sign-in, CSRF refusals and who may open what.

The app runs in-process (httpx's ASGI transport); cookies are kept by the client as a browser
keeps them. The browser tests (test_browser.py) drive the same pages through chromium.
"""

from __future__ import annotations

import re

import httpx
import pytest

from escrowd.bootstrap import Container
from tests.integration.conftest import DEFAULT_PASSWORD, Account, make_user

BASE = "http://escrowd.test"


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(web: httpx.AsyncClient, who: Account) -> httpx.Response:
    page = await web.get("/app/sign-in")
    assert page.status_code == 200, page.text
    return await web.post(
        "/app/sign-in",
        data={"csrf_token": csrf_of(page), "email": who.email, "password": who.password},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/app",
        "/app/escrows",
        "/app/balance",
        "/app/payout-settings",
        "/app/auctions",
        "/app/jobs",
        "/app/bookings",
        "/app/gigs",
        "/app/tasks",
        "/app/admin/escrows",
        "/app/admin/payouts",
        "/app/admin/disputes",
        "/app/admin/reports",
        "/app/admin/incidents",
    ],
)
async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(
    web: httpx.AsyncClient, path: str
) -> None:
    r = await web.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/sign-in?next=" + path.replace("/", "%2F")


async def test_signing_in_sets_a_secure_session_cookie_and_signing_out_clears_it(
    web: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container, role="client")
    r = await sign_in(web, payer)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/app"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie")
    assert cookie.startswith("escrowd_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    mine = await web.get("/app/escrows")
    assert mine.status_code == 200
    assert "My escrows" in mine.text
    assert payer.email in mine.text
    # The cookie holds an access token: the API's event stream accepts it as it does a Bearer.
    stream = await web.get("/v1/events/stream", params={"seconds": 1})
    assert stream.status_code == 200, stream.text
    assert stream.text.startswith("retry:")
    out = await web.post("/app/sign-out", data={"csrf_token": csrf_of(mine)})
    assert out.status_code == 303
    assert (await web.get("/app/escrows")).status_code == 303
    assert (await web.get("/v1/events/stream", params={"seconds": 1})).status_code == 401


async def test_a_wrong_password_is_answered_on_the_form(
    web: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container, role="client")
    wrong = Account(payer.id, payer.email, DEFAULT_PASSWORD + "!", payer.role, payer.token)
    r = await sign_in(web, wrong)
    assert r.status_code == 401
    assert "Incorrect email or password." in r.text
    assert "escrowd_session" not in r.headers.get("set-cookie", "")


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    web: httpx.AsyncClient, container: Container
) -> None:
    payer = await make_user(container, role="client")
    await web.get("/app/sign-in")  # the CSRF cookie is set; the form field is left out
    r = await web.post("/app/sign-in", data={"email": payer.email, "password": payer.password})
    assert r.status_code == 403
    assert "security token" in r.text
    assert "escrowd_session" not in r.headers.get("set-cookie", "")
    signed_in = await sign_in(web, payer)
    assert signed_in.status_code == 303
    page = await web.get("/app/escrows")
    token = csrf_of(page)
    # A wrong token, and the right token from another site's page: both refused.
    wrong = await web.post("/app/sign-out", data={"csrf_token": token[::-1]})
    assert wrong.status_code == 403
    elsewhere = await web.post(
        "/app/sign-out", data={"csrf_token": token}, headers={"Origin": "https://evil.test"}
    )
    assert elsewhere.status_code == 403
    assert (await web.get("/app/escrows")).status_code == 200  # still signed in
    ok = await web.post("/app/sign-out", data={"csrf_token": token}, headers={"Origin": BASE})
    assert ok.status_code == 303


async def test_a_payee_cannot_open_the_admin_pages(
    web: httpx.AsyncClient, container: Container
) -> None:
    payee = await make_user(container, role="worker")
    assert (await sign_in(web, payee)).headers["location"] == "/app/balance"
    for path in (
        "/app/admin/escrows",
        "/app/admin/payouts",
        "/app/admin/disputes",
        "/app/admin/reports",
        "/app/admin/incidents",
    ):
        r = await web.get(path)
        assert r.status_code == 403, r.text
        assert "This page is for admins" in r.text
    page = await web.get("/app/balance")
    assert page.status_code == 200
    r = await web.post(
        "/app/admin/payouts/po_01J9Z3Q4K5M6N7P8R9S0T1V2W3/approve",
        data={"csrf_token": csrf_of(page)},
    )
    assert r.status_code == 403
    assert "This page is for admins" in r.text


async def test_signing_up_as_a_payee_lands_on_the_balance_page(web: httpx.AsyncClient) -> None:
    page = await web.get("/app/sign-up")
    form = {
        "csrf_token": csrf_of(page),
        "name": "Ann",
        "email": "ann-web@example.com".replace("ann", f"ann{id(page)}"),
        "password": "short",
        "role": "worker",
    }
    refused = await web.post("/app/sign-up", data=form)
    assert refused.status_code == 400
    assert "10" in refused.text
    made = await web.post("/app/sign-up", data={**form, "password": DEFAULT_PASSWORD})
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/app/balance"
    balance = await web.get("/app/balance")
    assert "Request a payout" in balance.text
    assert "No payouts yet." in balance.text


async def test_someone_elses_escrow_is_a_not_found_page(
    web: httpx.AsyncClient, container: Container
) -> None:
    owner = await make_user(container, role="client")
    r = await web.post(
        "/v1/escrows",
        json={"currency": "usd", "amount": 900, "allocations": [{"payee": None, "amount": 900}]},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    escrow_id = r.json()["id"]
    stranger = await make_user(container, role="client")
    await sign_in(web, stranger)
    page = await web.get(f"/app/escrows/{escrow_id}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    web.cookies.clear()
    await sign_in(web, owner)
    mine = await web.get(f"/app/escrows/{escrow_id}")
    assert mine.status_code == 200
    assert "requires payment" in mine.text
