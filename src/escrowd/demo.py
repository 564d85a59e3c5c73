"""Demo data for a development install: logins and a funded escrow with its money trail.

- ``run_demo(container, say=...)``: the story ``escrowd demo`` tells, through escrowd's own
  HTTP API (the app in process, the Stripe sandbox in process): demo users log in, two workers
  onboard their payout accounts on the sandbox's hosted page, the client saves the 4242 test
  card, creates a $100.00 escrow for the two workers, funds it, releases all of worker 1's
  share and part of worker 2's, and refunds the rest; then it lists the membership plans
  (Starter, Pro, Team: migration 0018 seeds them). It returns the escrow and the users
  (``escrowd.demo_cli`` reads the money trail it left). Run it again and it makes a new
  escrow; users and verified accounts are reused.
- ``seed_demo(settings)``: what ``escrowd serve`` does in an empty development database: the
  demo logins, then one run of the demo so there is an escrow to look at.

Never in production (a known password would be an open door), and only on the sandbox.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from escrowd.bootstrap import Container, build
from escrowd.config import ProviderMode, Settings
from escrowd.logging import get_logger
from escrowd.users import passwords, service, tokens
from escrowd.users.domain import Role

log = get_logger(__name__)

#: (email, password, name, role). Development only: printed on the console at start.
DEMO_USERS: tuple[tuple[str, str, str, Role], ...] = (
    ("admin@demo.escrowd.dev", "demo-admin-password", "Ada Admin", "admin"),
    ("client@demo.escrowd.dev", "demo-client-password", "Carla Client", "client"),
    ("worker1@demo.escrowd.dev", "demo-worker-password", "Wendy Worker", "worker"),
    ("worker2@demo.escrowd.dev", "demo-worker-password", "Walt Worker", "worker"),
)

#: The escrow: $100.00 split $60 / $40 under seed 000's fees (15 % platform fee, the payee
#: pays 3 % processing on what the fee leaves). Worker 1 is paid in full, worker 2 gets $25.00
#: of $40.00 and the last $15.00 goes back to the client: the escrow ends ``released``.
AMOUNT = 10_000
SHARES = (6_000, 4_000)
SECOND_RELEASE = 2_500
REFUND = 1_500
FEE_POLICY: dict[str, Any] = {
    "rate_bps": 1500,
    "processing_bearer": "payee",
    "processing_mode": "flat_rate",
    "processing_rate_bps": 300,
    "processing_base": "after_platform_fee",
}
CARD = "pm_card_visa"  # the 4242 test card

Say = Callable[[str], None]


class DemoError(Exception):
    """A demo step failed; the message says which and what escrowd answered."""


@dataclass
class DemoResult:
    escrow: dict[str, Any]
    #: role → (user id, email); ``worker1`` / ``worker2`` for the workers.
    users: dict[str, tuple[str, str]]
    created_users: list[str] = field(default_factory=list)


def _noop(_: str) -> None:
    return None


# --- users ---------------------------------------------------------------------------------------


async def ensure_users(container: Container, *, only_if_empty: bool = False) -> list[str] | None:
    """Create the demo users that do not exist yet; returns the emails made.

    ``only_if_empty``: do nothing (None) unless the database has no users at all.
    """
    hasher = passwords.for_settings(container.settings)
    made: list[str] = []
    async with container.db.transaction() as session:
        if only_if_empty and await service.count(session) > 0:
            return None
        for email, password, name, role in DEMO_USERS:
            if await service.get_by_email(session, email=email) is not None:
                continue
            await service.create(
                session,
                clock=container.clock,
                passwords=hasher,
                email=email,
                password=password,
                name=name,
                role=role,
                granted_by_admin=True,
            )
            made.append(email)
    return made


# --- the HTTP side -------------------------------------------------------------------------------


class Api:
    """escrowd's API through an httpx client (in process, or a server's base URL); a failed
    call raises DemoError with escrowd's message."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        what: str,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        r = await self.client.request(method, path, json=body, headers=headers)
        if r.status_code != 200:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            raise DemoError(f"{what} failed: HTTP {r.status_code}: {message}")
        out: dict[str, Any] = r.json()
        return out


async def run_background(container: Container) -> None:
    """What serve's background loop does, until idle: sandbox webhooks, then escrowd's jobs."""
    from escrowd.escrows.tasks import KINDS
    from escrowd.jobs.worker import Worker
    from escrowd.sandbox.stripe.app import deliver_pending
    from escrowd.webhooks.inbound import process_pending

    worker = Worker(container, kinds=KINDS, run_sweeps=False)
    for _ in range(50):
        moved = await deliver_pending(container) + await process_pending(container)
        moved += await worker.tick()
        if not moved:
            return
    raise DemoError("background work kept coming (webhooks or jobs looping)")


async def _login(api: Api, email: str, password: str) -> tuple[str, str]:
    r = await api.client.post("/v1/auth/tokens", json={"email": email, "password": password})
    if r.status_code != 200:
        raise DemoError(
            f"cannot log in as {email} (HTTP {r.status_code}): that user exists with another "
            "password or is disabled. Use a fresh database (--database-url) for the demo."
        )
    body = r.json()
    return body["user"]["id"], body["access_token"]


_SESSION = re.compile(r"name=session value='([^']+)'")


async def onboard(
    api: Api,
    token: str,
    email: str,
    *,
    public_url: str,
    settle: Callable[[], Awaitable[object]],
    say: Say = _noop,
) -> str:
    """The user's verified connected account, onboarded on the sandbox's hosted page.

    An account already verified is reused. ``settle()`` lets the sandbox's webhooks reach
    escrowd; if the account is not verified after it, it is refreshed from the provider.
    """
    listed = await api.call("GET", "/v1/accounts", token, what=f"listing {email}'s accounts")
    account = next(iter(listed["data"]), None)
    if account is not None and account["status"] == "verified":
        say(f"  {email}: payout account {account['id']} already verified")
        return str(account["id"])
    if account is None or account.get("provider_account_id") is None:
        account = await api.call("POST", "/v1/accounts", token, {}, what="creating an account")
    base = public_url.rstrip("/")
    link = await api.call(
        "POST",
        f"/v1/accounts/{account['id']}/onboarding_link",
        token,
        {"refresh_url": f"{base}/demo/onboarding/refresh", "return_url": f"{base}/demo/done"},
        what="making an onboarding link",
    )
    page_path = httpx.URL(link["url"]).raw_path.decode()
    page = await api.client.get(page_path)
    found = _SESSION.search(page.text)
    if page.status_code != 200 or found is None:
        raise DemoError(f"the sandbox's onboarding page answered HTTP {page.status_code}")
    done = await api.client.post(page_path, data={"session": found[1], "outcome": "verified"})
    if done.status_code != 303:
        raise DemoError(f"submitting the onboarding page failed: HTTP {done.status_code}")
    await settle()  # account.updated reaches escrowd as a webhook
    path = f"/v1/accounts/{account['id']}"
    account = await api.call("GET", path, token, what="reading the account")
    if account["status"] != "verified":
        account = await api.call("POST", f"{path}/refresh", token, {}, what="refreshing")
    if account["status"] != "verified":
        raise DemoError(f"{email}'s account {account['id']} is {account['status']}")
    say(f"  {email}: onboarded on the sandbox's hosted page, account {account['id']} verified")
    return str(account["id"])


async def saved_card(api: Api, token: str, say: Say = _noop) -> str:
    """The user's default card, the 4242 test card saved first if there is none."""
    cards = await api.call("GET", "/v1/payment_methods", token, what="listing saved cards")
    saved = next((c for c in cards["data"] if c.get("default")), None)
    if saved is None:
        saved = await api.call(
            "POST",
            "/v1/payment_methods/attach",
            token,
            {"payment_method": CARD, "default": True},
            what="saving the 4242 card",
        )
        say(f"  saved the test card {CARD} as {saved['id']}")
    card = saved.get("card") or {}
    say(f"  paying with {card.get('brand', 'card')} •••• {card.get('last4', '????')}")
    return str(saved["id"])


def _expect(escrow: dict[str, Any], status: str, step: str) -> None:
    if escrow["status"] != status:
        raise DemoError(f"after {step} the escrow is {escrow['status']}, expected {status}")


async def _issued(container: Container, email: str) -> tuple[str, str]:
    """A token issued directly: the user was just made (``serve`` saves the password checks)."""
    async with container.db.transaction() as session:
        user = await service.get_by_email(session, email=email)
    if user is None:  # pragma: no cover - ensure_users made it
        raise DemoError(f"no demo user {email}")
    issued = tokens.issue(
        settings=container.settings, clock=container.clock, user_id=user.id, role=user.role
    )
    return user.id, issued.token


async def run_demo(container: Container, *, say: Say = _noop, login: bool = True) -> DemoResult:
    """Tell the demo's story through the API; see the module's docstring.

    ``login``: users log in with their passwords (POST /v1/auth/tokens); False issues their
    tokens directly, which saves a password hash check per user.
    """
    if container.settings.provider is not ProviderMode.sandbox:
        raise DemoError("the demo runs on the built-in sandbox: unset ESCROWD_PROVIDER")
    say("1. Demo users")
    made = await ensure_users(container) or []
    from escrowd.app import create_app

    # The lifespan does not run under ASGITransport: run_background does serve's loop's work.
    transport = httpx.ASGITransport(app=create_app(container, background=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.demo") as http:
        api = Api(http)
        bearer: dict[str, str] = {}
        users: dict[str, tuple[str, str]] = {}
        for email, password, _, _ in DEMO_USERS:
            label = email.partition("@")[0]  # admin, client, worker1, worker2
            user_id, bearer[label] = await (
                _login(api, email, password) if login else _issued(container, email)
            )
            users[label] = (user_id, email)
            say(f"  {label:<7} {email} ({'created' if email in made else 'exists'}), logged in")
        say("2. Workers' payout accounts (sandbox onboarding)")
        for label in ("worker1", "worker2"):
            await onboard(
                api,
                bearer[label],
                users[label][1],
                public_url=container.settings.public_url,
                settle=lambda: run_background(container),
                say=say,
            )
        say("3. The client's card")
        card = await saved_card(api, bearer["client"], say)
        client = bearer["client"]
        say("4. Escrow")
        escrow = await api.call(
            "POST",
            "/v1/escrows",
            client,
            {
                "currency": "usd",
                "amount": AMOUNT,
                "allocations": [
                    {"payee": users["worker1"][0], "amount": SHARES[0]},
                    {"payee": users["worker2"][0], "amount": SHARES[1]},
                ],
                "fee_policy": FEE_POLICY,
                "description": "Demo: a website redesign, built by two workers",
                "metadata": {"demo": "true"},
            },
            what="creating the escrow",
        )
        eid = escrow["id"]
        path = f"/v1/escrows/{eid}"
        say(f"  created {eid}: 100.00 USD for worker1 (60.00) and worker2 (40.00)")
        escrow = await api.call(
            "POST",
            f"{path}/fund",
            client,
            {"payment_method": card},
            key=f"{eid}:fund",
            what="funding",
        )
        _expect(escrow, "held", "funding")
        say(f"  funded with the 4242 card: {escrow['status']}")
        first, second = (a["id"] for a in escrow["allocations"])
        escrow = await api.call(
            "POST",
            f"{path}/release",
            client,
            {"allocations": [{"id": first}, {"id": second, "amount": SECOND_RELEASE}]},
            key=f"{eid}:release",
            what="releasing",
        )
        _expect(escrow, "partially_released", "the release")
        say(f"  released 60.00 to worker1 and 25.00 to worker2: {escrow['status']}")
        escrow = await api.call(
            "POST",
            f"{path}/refund",
            client,
            {"amount": REFUND, "reason": "requested_by_customer"},
            key=f"{eid}:refund",
            what="refunding",
        )
        _expect(escrow, "released", "the refund")
        say(f"  refunded 15.00 to the client: {escrow['status']}")
        await run_background(container)  # the sandbox's webhooks about it all, processed
        escrow = await api.call("GET", path, bearer["admin"], what="reading the escrow")
        say("5. Membership plans (docs/subscriptions.md)")
        plans = await api.call("GET", "/v1/plans", what="listing the plans")
        for plan in plans["data"]:
            jobs = plan["limits"].get("published_jobs_per_month")
            say(
                f"  {plan['id']:<8} {plan['amount'] // 100}.{plan['amount'] % 100:02d} "
                f"{plan['currency'].upper()} a {plan['interval']}, "
                f"{'unlimited' if jobs is None else jobs} published jobs a month"
                f" (for {'an organization' if plan['audience'] == 'organization' else 'a person'})"
            )
    return DemoResult(escrow=escrow, users=users, created_users=made)


# --- escrowd serve -------------------------------------------------------------------------------


@dataclass
class Seeded:
    logins: list[tuple[str, str, str]]
    #: The demo escrow's id, or None when making it failed (``error`` says why).
    escrow_id: str | None = None
    error: str | None = None


async def seed_demo(settings: Settings) -> Seeded | None:
    """In an empty development database: the demo logins and one demo escrow.

    None when there is nothing to do (production, or the database has users). Making the
    escrow may fail (a provider other than the sandbox, a bug): the logins stay and ``error``
    says why, so ``serve`` still starts.
    """
    if not settings.is_dev:
        return None
    container = build(settings)
    try:
        made = await ensure_users(container, only_if_empty=True)
        if made is None:
            return None
        seeded = Seeded([(email, password, role) for email, password, _, role in DEMO_USERS])
        before = structlog.get_config()  # the demo's requests would flood serve's console
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        try:
            result = await run_demo(container, login=False)
            seeded.escrow_id = str(result.escrow["id"])
        except Exception as exc:  # the escrow is a nicety; never stop serve for it
            log.warning("demo_escrow_failed", error=str(exc))
            seeded.error = str(exc) or type(exc).__name__
        finally:
            structlog.configure(**before)
        return seeded
    finally:
        await container.close()


async def seed_demo_logins(settings: Settings) -> list[tuple[str, str, str]]:
    """``seed_demo``'s logins: (email, password, role) made; [] when none were."""
    seeded = await seed_demo(settings)
    return [] if seeded is None else seeded.logins
