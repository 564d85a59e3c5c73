"""Fixtures for the Stripe sandbox's HTTP-level tests.

Requests go to the sandbox mounted in escrowd's own app (the root ``client`` fixture, on
SQLite and PostgreSQL), as raw form posts: what any Stripe client sends.

- ``api``: ``await api.post("/v1/payment_intents", {"amount": "1000", ...})`` → httpx response
  (``key=`` adds an Idempotency-Key, ``account=`` a Stripe-Account header).
- ``page``: the hosted pages, as a browser would use them.
- ``advance(container, seconds)``: move the sandbox clock and run what comes due.
- ``Inbox``: a webhook receiver for ``deliver_pending(container, send=inbox)``.
- With ESCROWD_STRIPE_OPENAPI set, every request and response is checked against Stripe's
  spec; a test that leaves a mismatch fails (``spec.expect(...)`` takes the ones a test
  provokes on purpose, such as an unknown parameter).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from escrowd.bootstrap import Container
from escrowd.db.session import Database
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.sandbox import spec_check
from escrowd.sandbox.stripe import clock, models
from escrowd.sandbox.stripe.due import run_due

BASE = "/sandbox/stripe"
KEY = SANDBOX_API_KEY
Params = Mapping[str, str | list[str]]


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    def _headers(self, key: str | None, account: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {KEY}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if account is not None:
            headers["Stripe-Account"] = account
        return headers

    async def post(
        self,
        path: str,
        data: Params | None = None,
        *,
        key: str | None = None,
        account: str | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            BASE + path, data=data or {}, headers=self._headers(key, account)
        )

    async def get(
        self, path: str, params: Params | None = None, *, account: str | None = None
    ) -> httpx.Response:
        return await self.client.get(
            BASE + path, params=params or {}, headers=self._headers(None, account)
        )

    async def delete(self, path: str, params: Params | None = None) -> httpx.Response:
        return await self.client.delete(
            BASE + path, params=params or {}, headers=self._headers(None, None)
        )

    async def ok(self, method: str, path: str, data: Params | None = None, **kw: Any) -> Any:
        """The JSON body of a call that must succeed."""
        if method == "POST":
            r = await self.post(path, data, **kw)
        else:
            r = await self.get(path, data, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    async def customer(self, **extra: str) -> dict[str, Any]:
        return dict(await self.ok("POST", "/v1/customers", {"email": "payer@example.com", **extra}))

    async def intent(self, amount: int = 1000, **extra: str | list[str]) -> httpx.Response:
        return await self.post(
            "/v1/payment_intents",
            {"amount": str(amount), "currency": "usd", **extra},
        )


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    return err


class Page:
    """A person on the hosted pages (public URLs are answered by the app in process)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @staticmethod
    def local(url: str) -> str:
        return httpx.URL(url).raw_path.decode()

    async def open(self, url: str) -> httpx.Response:
        return await self.client.get(self.local(url))

    async def three_ds(self, url: str, outcome: str) -> httpx.Response:
        shown = await self.open(url)
        assert shown.status_code == 200, shown.text
        secret = httpx.URL(url).params["token"]
        return await self.client.post(self.local(url), data={"token": secret, "outcome": outcome})

    async def onboard(self, url: str, outcome: str, bank: str = "000123456789") -> httpx.Response:
        shown = await self.open(url)
        assert shown.status_code == 200, shown.text
        session = re.search(r"name=session value='([^']+)'", shown.text)
        assert session is not None, shown.text
        return await self.client.post(
            self.local(url), data={"session": session.group(1), "outcome": outcome, "bank": bank}
        )


class Inbox:
    """Receives webhooks in the test; answers ``status`` (200 unless told otherwise)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        assert path == "/v1/webhooks/stripe"
        self.received.append((body, headers))
        return self.status

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.received]

    def types_for(self, object_id: str) -> list[str]:
        return [e["type"] for e in self.events() if e["data"]["object"].get("id") == object_id]


async def advance(container: Container, seconds: int) -> int:
    """Move the sandbox clock forward and run what came due (what the admin endpoint does)."""
    await clock.shift(container, seconds)
    return await run_due(container)


class SpecGuard:
    def __init__(self) -> None:
        self.expected: list[str] = []

    def expect(self, fragment: str) -> None:
        """Take the recorded mismatches this test provoked on purpose (when checks run)."""
        found = spec_check.drain()
        if spec_check.load_from_env() is not None:
            assert any(fragment in m for m in found), (fragment, found)
        self.expected.extend(found)


@pytest.fixture(autouse=True)
def spec() -> Iterator[SpecGuard]:
    spec_check.drain()
    guard = SpecGuard()
    yield guard
    left = spec_check.drain()
    assert not left, "Stripe's OpenAPI spec disagrees:\n" + "\n".join(left)


async def put_clock_back(db: Database, offset: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(models.clock).values(offset_seconds=offset))


@pytest.fixture
async def clock_guard(container: Container) -> AsyncIterator[None]:
    """Tests here move the shared databases' sandbox clock; put it back for the next test
    (escrowd itself never moves it backwards: this is test housekeeping only)."""
    before = (await clock.state(container)).offset_seconds
    yield
    await put_clock_back(container.db, before)


@pytest.fixture
async def api(client: httpx.AsyncClient, clock_guard: None) -> Api:
    return Api(client)


@pytest.fixture
def page(client: httpx.AsyncClient) -> Page:
    return Page(client)


async def onboarded_account(
    api: Api, page: Page, outcome: str = "verified", bank: str = "000123456789"
) -> str:
    """An Express account taken through the hosted onboarding page."""
    acct = await api.ok(
        "POST",
        "/v1/accounts",
        {
            "type": "express",
            "country": "US",
            "email": "payee@example.com",
            "business_type": "individual",
            "capabilities[transfers][requested]": "true",
        },
    )
    link = await api.ok(
        "POST",
        "/v1/account_links",
        {
            "account": acct["id"],
            "type": "account_onboarding",
            "refresh_url": "https://shop.example/refresh",
            "return_url": "https://shop.example/done",
        },
    )
    done = await page.onboard(link["url"], outcome, bank)
    assert done.status_code == 303, done.text
    return str(acct["id"])


async def captured_charge(
    api: Api, amount: int = 10000, card: str = "pm_card_visa", **extra: str
) -> dict[str, Any]:
    """A payment captured at once; the intent with its charge expanded."""
    return dict(
        await api.ok(
            "POST",
            "/v1/payment_intents",
            {
                "amount": str(amount),
                "currency": "usd",
                "payment_method": card,
                "confirm": "true",
                "expand[]": "latest_charge",
                **extra,
            },
        )
    )
