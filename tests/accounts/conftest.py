"""Fixtures for connected accounts and customers, against the in-process Stripe sandbox.

- ``client``: the app with the accounts and customers routers mounted (until create_app mounts
  them itself) and the account webhook handlers registered.
- ``browser``: a person on the sandbox's hosted pages (onboarding, card form).
- ``await settle(container)``: the sandbox sends its pending webhooks and escrowd processes
  them, until nothing is left.
- ``await make_org(client, admin)`` → ``org_…``; ``await add_member(client, org, admin, user)``.
- ``await onboarded(client, browser, container, user, outcome=...)`` → the account's JSON after
  onboarding and the webhooks it caused.

With ESCROWD_STRIPE_OPENAPI set, every request the sandbox received is checked against
Stripe's spec; a test whose calls left a mismatch fails, naming it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import NoMatchFound

import escrowd.accounts.handlers  # noqa: F401  (registers the webhook handlers)
from escrowd.accounts.routes import routers as account_routers
from escrowd.app import create_app
from escrowd.bootstrap import Container
from escrowd.customers.routes import routers as customer_routers
from escrowd.sandbox import spec_check
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.webhooks.inbound import process_pending
from tests.integration.conftest import Account

REFRESH_URL = "https://market.test/payouts/refresh"
RETURN_URL = "https://market.test/payouts/done"


def mounted(app: FastAPI, route_name: str) -> bool:
    """Whether a route of that name is mounted (``app.routes`` may hold included routers)."""
    try:
        app.url_path_for(route_name)
    except NoMatchFound:
        return False
    return True


def mount(app: FastAPI) -> FastAPI:
    if not mounted(app, "create_account"):
        for router in account_routers:
            app.include_router(router, prefix="/v1")
    if not mounted(app, "attach"):
        for router in customer_routers:
            app.include_router(router, prefix="/v1")
    return app


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = mount(create_app(container))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
        yield c


@pytest.fixture(autouse=True)
def _stripe_spec() -> Iterator[None]:
    spec_check.drain()
    yield
    mismatches = spec_check.drain()
    assert not mismatches, "Stripe's OpenAPI spec disagrees:\n" + "\n".join(mismatches)


def local(url: str) -> str:
    """A hosted page's path: pages are addressed on ESCROWD_PUBLIC_URL; the app answers them."""
    u = httpx.URL(url)
    return u.raw_path.decode()


class Browser:
    """A person on the sandbox's hosted pages, reached through escrowd's own app."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def onboard(self, url: str, *, outcome: str = "verified") -> httpx.Response:
        page = await self.client.get(local(url))
        assert page.status_code == 200, page.text
        found = re.search(r"name=session value='([^']+)'", page.text)
        assert found, page.text
        return await self.client.post(
            local(url), data={"session": found.group(1), "outcome": outcome}
        )

    async def save_card(self, url: str, *, number: str = "4242 4242 4242 4242") -> httpx.Response:
        page = await self.client.get(local(url))
        assert page.status_code == 200, page.text
        hidden = dict(re.findall(r"<input type=hidden name=(\w+) value='([^']*)'>", page.text))
        form = {**hidden, "number": number, "exp": "12/34", "cvc": "123", "name": "Ann Payer"}
        return await self.client.post(local(url), data=form)


@pytest.fixture
def browser(client: httpx.AsyncClient) -> Browser:
    return Browser(client)


async def settle(container: Container) -> int:
    """Deliver the sandbox's webhooks and process them until both are idle."""
    total = 0
    for _ in range(50):
        moved = await deliver_pending(container) + await process_pending(container)
        total += moved
        if not moved:
            return total
    raise AssertionError("webhooks kept coming")


async def make_org(client: httpx.AsyncClient, admin: Account, name: str = "Acme QA") -> str:
    r = await client.post("/v1/organizations", json={"name": name}, headers=admin.headers)
    assert r.status_code == 200, r.text
    org_id: str = r.json()["id"]
    return org_id


async def add_member(
    client: httpx.AsyncClient, org_id: str, admin: Account, user: Account, role: str = "member"
) -> None:
    r = await client.post(
        f"/v1/organizations/{org_id}/members",
        json={"user": user.id, "role": role},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text


async def create_account(client: httpx.AsyncClient, user: Account, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/accounts", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


async def onboarding_url(client: httpx.AsyncClient, user: Account, account_id: str) -> str:
    r = await client.post(
        f"/v1/accounts/{account_id}/onboarding_link",
        json={"refresh_url": REFRESH_URL, "return_url": RETURN_URL},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    url: str = r.json()["url"]
    return url


async def onboarded(
    client: httpx.AsyncClient,
    browser: Browser,
    container: Container,
    user: Account,
    *,
    outcome: str = "verified",
    **body: Any,
) -> dict[str, Any]:
    """Create an account, complete the hosted onboarding page, deliver the webhooks."""
    acct = await create_account(client, user, **body)
    done = await browser.onboard(await onboarding_url(client, user, acct["id"]), outcome=outcome)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == RETURN_URL
    await settle(container)
    r = await client.get(f"/v1/accounts/{acct['id']}", headers=user.headers)
    assert r.status_code == 200, r.text
    after: dict[str, Any] = r.json()
    return after
