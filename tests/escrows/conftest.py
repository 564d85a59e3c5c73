"""Fixtures for escrow tests: the app with every router an escrow needs, payers and verified
payees, the sandbox's webhooks, the outbox worker and the sweeps — all called explicitly.

- ``client``: create_app plus the escrows, accounts and customers routers (until create_app
  mounts them) and the escrow modules that register handlers, sweeps and checks.
- ``await payer(ctx)`` → a client whose token is issued afresh per request (tests move the
  clock by days); ``await payees(ctx, n)`` → ``n`` worker ids with verified connected accounts
  (onboarded through the sandbox's hosted page once per database, then reused).
- ``await create_escrow(…)``, ``await funded(…)`` (paid with the 4242 card), ``await post(…)``
  (with a fresh Idempotency-Key), ``keyed(headers)`` (the same for a hand-made request),
  ``await get(…)``, ``await event_types(…)``, ``await ledger_balance(ctx, code)``.
- ``await settle(container)``: the sandbox delivers its webhooks and escrowd processes them.
- ``await run_jobs(container)`` / ``await sweep(container, fn)``: the outbox worker (escrow
  job kinds only) and one run of a sweep function.
- ``Sandbox(client)``: what the Stripe sandbox holds (transfers of an escrow, refunds, a
  connected account's balance), read over its own API.
- An autouse module fixture runs ``escrowd ledger verify`` over both shared databases when a
  test module ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from ulid import ULID

import escrowd.accounts.handlers
import escrowd.escrows.checks
import escrowd.escrows.handlers
import escrowd.escrows.sweeps
import escrowd.escrows.tasks  # noqa: F401  (registers the job handlers)
from escrowd.accounts.routes import routers as account_routers
from escrowd.app import create_app
from escrowd.bootstrap import Container, build
from escrowd.clock import FrozenClock
from escrowd.config import Settings
from escrowd.customers.routes import routers as customer_routers
from escrowd.db.session import Database
from escrowd.escrows.routes import routers as escrow_routers
from escrowd.escrows.tasks import KINDS
from escrowd.jobs import SweepContext
from escrowd.jobs.registry import SweepFn
from escrowd.jobs.worker import Worker
from escrowd.ledger.verify import summary_lines, verify
from escrowd.providers.base import PaymentProvider
from escrowd.providers.stripe.client import SANDBOX_API_KEY
from escrowd.sandbox import spec_check
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.users import tokens
from escrowd.webhooks.inbound import process_pending
from tests.accounts.conftest import Browser, mounted, onboarded
from tests.integration.conftest import Account, bearer, make_api_key, make_user

if TYPE_CHECKING:
    from tests.escrows.rails import Rail


def mount(app: FastAPI) -> FastAPI:
    for name, routers in (
        ("create_escrow", escrow_routers),
        ("create_account", account_routers),
        ("attach", customer_routers),
    ):
        if not mounted(app, name):
            for router in routers:
                app.include_router(router, prefix="/v1")
    return app


class ProviderSwitch:
    """The real provider, replaceable by a test (a crash, a recorder) for a while.

    The container is immutable; this sits at the network edge, where tests may fake."""

    def __init__(self, target: PaymentProvider) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def provider_switch(ctx: Ctx, name: str = "stripe") -> ProviderSwitch:
    """The switch in front of the provider called ``name``. The container wraps only its
    default provider; PayPal's is put behind a switch of its own the first time it is asked
    for (the container is the test's own)."""
    switch = ctx.container.provider if name == ctx.container.provider.name else None
    if switch is None:
        providers = ctx.container.providers
        assert isinstance(providers, dict), providers
        found = providers[name]
        switch = found if isinstance(found, ProviderSwitch) else ProviderSwitch(found)
        providers[name] = switch
    assert isinstance(switch, ProviderSwitch), switch
    return switch


@pytest.fixture
async def container(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    c = build(settings, clock=clock, wrap_provider=ProviderSwitch)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = mount(create_app(container))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
        yield c


@pytest.fixture
def browser(client: httpx.AsyncClient) -> Browser:
    return Browser(client)


@pytest.fixture(autouse=True)
def _stripe_spec() -> Iterator[None]:
    """With ESCROWD_STRIPE_OPENAPI set, every call the sandbox got must match Stripe's spec."""
    spec_check.drain()
    yield
    mismatches = spec_check.drain()
    assert not mismatches, "Stripe's OpenAPI spec disagrees:\n" + "\n".join(mismatches)


@pytest.fixture(autouse=True, scope="module")
def _ledger_verified_after_module(shared_db_urls: dict[str, str]) -> Iterator[None]:
    yield
    for backend, url in shared_db_urls.items():

        async def check(url: str = url) -> list[str]:
            database = Database(url)
            try:
                report = await verify(database)
            finally:
                await database.dispose()
            return [] if report.ok else summary_lines(report)

        broken = asyncio.run(check())
        assert not broken, f"ledger verify on {backend}:\n" + "\n".join(broken)


@pytest.fixture(params=["stripe", "paypal"])
def rail(request: pytest.FixtureRequest) -> Rail:
    """The provider the test's escrows are paid through: each test that takes it runs on
    Stripe and on PayPal (tests/escrows/rails.py)."""
    from tests.escrows.rails import RAILS

    return RAILS[request.param]


# --- parties ------------------------------------------------------------------------------------


@dataclass
class Ctx:
    client: httpx.AsyncClient
    container: Container
    browser: Browser


@pytest.fixture
def ctx(client: httpx.AsyncClient, container: Container, browser: Browser) -> Ctx:
    return Ctx(client, container, browser)


#: Verified payees per database (onboarding is slow; their accounts stay verified).
_VERIFIED: dict[str, list[str]] = {}


async def verified_payee(ctx: Ctx) -> Account:
    worker = await make_user(ctx.container, role="worker")
    account = await onboarded(ctx.client, ctx.browser, ctx.container, worker)
    assert account["status"] == "verified", account
    return worker


async def payees(ctx: Ctx, n: int) -> list[str]:
    """``n`` user ids of payees with verified connected accounts."""
    pool = _VERIFIED.setdefault(ctx.container.db.url, [])
    while len(pool) < n:
        pool.append((await verified_payee(ctx)).id)
    return pool[:n]


class Person(Account):
    """A user whose token is issued afresh on each request (tests move the clock by days)."""

    container: Container | None = None

    @property
    def headers(self) -> dict[str, str]:
        assert self.container is not None
        issued = tokens.issue(
            settings=self.container.settings,
            clock=self.container.clock,
            user_id=self.id,
            role=self.role,
        )
        return bearer(issued.token)


def person(ctx: Ctx, account: Account) -> Person:
    p = Person(account.id, account.email, account.password, account.role, account.token)
    p.container = ctx.container
    return p


async def payer(ctx: Ctx) -> Person:
    return person(ctx, await make_user(ctx.container, role="client"))


async def api_key_headers(ctx: Ctx) -> dict[str, str]:
    _, secret = await make_api_key(ctx.container)
    return {"Authorization": f"Bearer {secret}"}


# --- driving the background work ----------------------------------------------------------------


async def settle(container: Container) -> int:
    """Deliver the sandbox's webhooks and process them until both are idle."""
    total = 0
    for _ in range(50):
        moved = await deliver_pending(container) + await process_pending(container)
        total += moved
        if not moved:
            return total
    raise AssertionError("webhooks kept coming")


async def quiet(container: Container) -> None:
    """Book what earlier tests left due in the shared database (webhooks, escrow jobs) before
    a test reads the platform's shared accounts, so the deltas it asserts are its own."""
    for _ in range(10):
        if not (await settle(container) + await run_jobs(container)):
            return
    raise AssertionError("background work kept coming")


async def run_jobs(container: Container) -> int:
    """Run due escrow jobs (and the jobs they enqueue) until none is due."""
    worker = Worker(container, kinds=KINDS, run_sweeps=False)
    total = 0
    for _ in range(20):
        ran = await worker.tick()
        total += ran
        if not ran:
            return total
    raise AssertionError("jobs kept coming")


async def sweep(container: Container, fn: SweepFn) -> int | None:
    """One run of a sweep function, as a worker would run it now."""
    now = container.clock.now()
    return await fn(SweepContext(container, "test", now, None, "test-worker"))


# --- requests -------------------------------------------------------------------------------------


async def create_escrow(
    ctx: Ctx, who: Account, allocations: list[tuple[str | None, int]], **body: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "currency": "usd",
        "amount": sum(a for _, a in allocations),
        "allocations": [{"payee": p, "amount": a} for p, a in allocations],
        **body,
    }
    r = await ctx.client.post("/v1/escrows", json=payload, headers=who.headers)
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


def keyed(headers: dict[str, str]) -> dict[str, str]:
    """The headers plus a fresh Idempotency-Key, as the routes that move money require."""
    return {**headers, "Idempotency-Key": f"test-{ULID()}"}


async def post(
    ctx: Ctx, who: Account, path: str, body: dict[str, Any] | None = None, status: int = 200
) -> dict[str, Any]:
    """POST with a fresh Idempotency-Key (needed by fund, capture, release and refund)."""
    r = await ctx.client.post(path, json=body or {}, headers=keyed(who.headers))
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def funded(
    ctx: Ctx, who: Account, allocations: list[tuple[str | None, int]], **body: Any
) -> dict[str, Any]:
    """An escrow created and funded with the 4242 test card (capture mode unless given)."""
    escrow = await create_escrow(ctx, who, allocations, **body)
    return await post(
        ctx, who, f"/v1/escrows/{escrow['id']}/fund", {"payment_method": "pm_card_visa"}
    )


def assert_release_incomplete(
    response: httpx.Response, status: int, type_: str, code: str
) -> dict[str, Any]:
    """A release that did not pay everything: the error envelope plus the escrow and the
    per-allocation ``results``, not stored for replay (``Escrowd-Should-Retry: true``)."""
    assert response.status_code == status, response.text
    assert response.headers.get("Escrowd-Should-Retry") == "true", response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert set(err) == {"type", "code", "message", "param", "escrow", "results"}, err
    assert (err["type"], err["code"]) == (type_, code), err
    assert err["escrow"]["object"] == "escrow"
    return err


async def get(ctx: Ctx, who: Account, escrow_id: str) -> dict[str, Any]:
    r = await ctx.client.get(f"/v1/escrows/{escrow_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def event_types(ctx: Ctx, who: Account, object_id: str) -> list[str]:
    r = await ctx.client.get(
        "/v1/events", params={"object_id": object_id, "limit": 100}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    return [e["type"] for e in reversed(r.json()["data"])]


async def ledger_balance(ctx: Ctx, code: str, currency: str = "usd") -> int:
    from escrowd.ledger import Ledger

    async with ctx.container.db.transaction() as s:
        account = await Ledger(s).find_account(code=code, currency=currency)
    return 0 if account is None else account.balances.net_posted


class Sandbox:
    """The Stripe sandbox's own view, over its API (as a Stripe dashboard would show it)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}

    async def _list(self, path: str, **params: str) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"/sandbox/stripe/v1/{path}", params={"limit": "100", **params}, headers=self.headers
        )
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        return data

    async def transfers(self, escrow_id: str) -> list[dict[str, Any]]:
        return await self._list("transfers", transfer_group=escrow_id)

    async def refunds(self, payment_id: str) -> list[dict[str, Any]]:
        return await self._list("refunds", payment_intent=payment_id)

    async def payment(self, payment_id: str) -> dict[str, Any]:
        r = await self.client.get(
            f"/sandbox/stripe/v1/payment_intents/{payment_id}", headers=self.headers
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


@pytest.fixture
def sandbox(client: httpx.AsyncClient) -> Sandbox:
    return Sandbox(client)
