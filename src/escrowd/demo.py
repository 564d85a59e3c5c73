"""Demo data for a development install: logins, escrows, a payout and a dispute with their
money trail.

- ``run_demo(container, say=...)``: the story ``escrowd demo`` tells, through escrowd's own
  HTTP API (the app in process, the Stripe sandbox in process): demo users log in, two workers
  onboard their payout accounts on the sandbox's hosted page, the client saves the 0077 test
  card (a Visa whose funds are available at once), creates a $100.00 escrow for the two
  workers, funds it, releases all of worker 1's share and part of worker 2's, and refunds the
  rest. Worker 1 then pays their earnings out: a payout request, the admin's approval, the
  sandbox clock moved to its arrival, ``paid``. Then a second escrow, $30.00 for worker 2, is
  funded and disputed by the client; the admin reviews and splits it ($20.00 released,
  $10.00 refunded). Then a third escrow, $25.00 for worker 2, is paid with PayPal: the
  client approves it on the PayPal sandbox's approval page, it is released, and worker 2 pays
  their share out to their PayPal email (PayPal Payouts). Last it lists the membership plans
  (Starter, Pro, Team: migration 0018 seeds them). It returns the escrows, the payouts, the
  dispute and the users (``escrowd.demo_cli`` reads the money trail they left). Run it again
  and it tells the story again with new escrows and new payouts; users, verified accounts and
  the card are reused.
- ``seed_demo(settings)``: what ``escrowd serve`` does in an empty development database: the
  demo logins, then one run of the demo so there is something to look at.

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
from escrowd.money import Money
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
#: Stripe's 4000 0000 0000 0077: its funds are available at once (not two days after the
#: charge), so the transfers it pays for can be paid out straight away.
CARD = "pm_card_bypassPending"
CARD_LAST4 = "0077"

#: The second escrow: $30.00 for worker 2, disputed by the client; the admin splits it.
DISPUTED_AMOUNT = 3_000
DISPUTE_RELEASE = 2_000
DISPUTE_REFUND = 1_000

#: The third escrow: $25.00 for worker 2, paid with PayPal, paid out to their PayPal email.
PAYPAL_AMOUNT = 2_500
PAYPAL_EMAIL = "worker2@demo.escrowd.dev"

Say = Callable[[str], None]


class DemoError(Exception):
    """A demo step failed; the message says which and what escrowd answered."""


@dataclass
class DemoResult:
    escrow: dict[str, Any]
    #: role → (user id, email); ``worker1`` / ``worker2`` for the workers.
    users: dict[str, tuple[str, str]]
    created_users: list[str] = field(default_factory=list)
    #: Worker 1's payout, ``paid``; None when their earnings were not available yet (a payout
    #: delay, ``ESCROWD_PAYOUT_DELAY_SECONDS``).
    payout: dict[str, Any] | None = None
    #: The second escrow and its dispute, resolved by a split.
    disputed: dict[str, Any] | None = None
    dispute: dict[str, Any] | None = None
    #: The escrow paid with PayPal, released to worker 2, and their payout to PayPal.
    paypal_escrow: dict[str, Any] | None = None
    paypal_payout: dict[str, Any] | None = None


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
    organization: str | None = None,
) -> str:
    """The user's verified connected account, onboarded on the sandbox's hosted page; with
    ``organization`` (an ``org_…`` the user administers), the organization's account.

    An account already verified is reused. ``settle()`` lets the sandbox's webhooks reach
    escrowd; if the account is not verified after it, it is refreshed from the provider.
    """
    listed = await api.call("GET", "/v1/accounts", token, what=f"listing {email}'s accounts")
    account = next(
        (
            a
            for a in listed["data"]
            if (a["owner_id"] == organization if organization else a["owner_type"] == "user")
        ),
        None,
    )
    whose = f"{organization} (by {email})" if organization else email
    if account is not None and account["status"] == "verified":
        say(f"  {whose}: payout account {account['id']} already verified")
        return str(account["id"])
    if account is None or account.get("provider_account_id") is None:
        body = {"organization": organization} if organization else {}
        account = await api.call(
            "POST", "/v1/accounts", token, body, what=f"creating {whose}'s account"
        )
    base = public_url.rstrip("/")
    link = await api.call(
        "POST",
        f"/v1/accounts/{account['id']}/onboarding_link",
        token,
        {"refresh_url": f"{base}/demo/onboarding/refresh", "return_url": f"{base}/demo/done"},
        what="making an onboarding link",
    )
    # The link's full URL, as a browser follows it: the sandbox may be another process's.
    page_url = str(link["url"])
    page = await api.client.get(page_url)
    found = _SESSION.search(page.text)
    if page.status_code != 200 or found is None:
        raise DemoError(f"the sandbox's onboarding page answered HTTP {page.status_code}")
    done = await api.client.post(page_url, data={"session": found[1], "outcome": "verified"})
    if done.status_code != 303:
        raise DemoError(f"submitting the onboarding page failed: HTTP {done.status_code}")
    await settle()  # account.updated reaches escrowd as a webhook
    path = f"/v1/accounts/{account['id']}"
    account = await api.call("GET", path, token, what="reading the account")
    if account["status"] != "verified":
        account = await api.call("POST", f"{path}/refresh", token, {}, what="refreshing")
    if account["status"] != "verified":
        raise DemoError(f"{whose}'s account {account['id']} is {account['status']}")
    say(f"  {whose}: onboarded on the sandbox's hosted page, account {account['id']} verified")
    return str(account["id"])


async def saved_card(
    api: Api, token: str, say: Say = _noop, *, card: str = CARD, last4: str = CARD_LAST4
) -> str:
    """The user's saved test card ending in ``last4``; ``card`` is saved (as the default) first
    if there is none (a database from an older demo has the 4242 card only)."""
    cards = await api.call("GET", "/v1/payment_methods", token, what="listing saved cards")
    saved = next((c for c in cards["data"] if (c.get("card") or {}).get("last4") == last4), None)
    if saved is None:
        saved = await api.call(
            "POST",
            "/v1/payment_methods/attach",
            token,
            {"payment_method": card, "default": True},
            what=f"saving the {last4} card",
        )
        say(f"  saved the test card {card} as {saved['id']}")
    shown = saved.get("card") or {}
    say(f"  paying with {shown.get('brand', 'card')} •••• {shown.get('last4', '????')}")
    return str(saved["id"])


def _expect(escrow: dict[str, Any], status: str, step: str) -> None:
    if escrow["status"] != status:
        raise DemoError(f"after {step} the escrow is {escrow['status']}, expected {status}")


async def issued_token(container: Container, email: str) -> tuple[str, str]:
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
    if container.sandbox is None:
        # The demo moves the story along itself (webhooks, the sandbox clock) in process.
        raise DemoError(
            "the demo runs with the sandbox in escrowd's process: unset ESCROWD_SANDBOX_URL"
        )
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
                _login(api, email, password) if login else issued_token(container, email)
            )
            users[label] = (user_id, email)
            say(f"  {label:<7} {email} ({'created' if email in made else 'exists'}), logged in")

        async def settle() -> None:
            await run_background(container)

        say("2. Workers' payout accounts (sandbox onboarding)")
        for label in ("worker1", "worker2"):
            await onboard(
                api,
                bearer[label],
                users[label][1],
                public_url=container.settings.public_url,
                settle=settle,
                say=say,
            )
        say("3. The client's card")
        card = await saved_card(api, bearer["client"], say)
        say(
            "  (Stripe's test card 4000 0000 0000 0077: its money is available at once, so "
            "worker1 can be paid out without the usual two days' wait)"
        )
        say("4. Escrow: funded, released to both workers, the rest refunded")
        escrow = await _first_escrow(api, bearer["client"], card, users, say)
        await settle()  # the sandbox's webhooks about it all, processed
        escrow = await api.call(
            "GET", f"/v1/escrows/{escrow['id']}", bearer["admin"], what="reading the escrow"
        )
        say("5. Payout: worker1's earnings from the escrow, out to their bank")
        payout = await pay_out(
            api,
            worker=bearer["worker1"],
            admin=bearer["admin"],
            amount=int(escrow["allocations"][0]["net_released"]),
            key=str(escrow["id"]),
            settle=settle,
            say=say,
        )
        say("6. Dispute: a second escrow, disputed by the client, split by the admin")
        disputed, dispute = await disputed_escrow(api, bearer, users, card, settle=settle, say=say)
        say("7. PayPal: an escrow approved on PayPal, released, paid out to a PayPal email")
        paypal_escrow, paypal_payout = await paypal_chapter(
            api, bearer, users, settle=settle, say=say
        )
        say("8. Membership plans (docs/subscriptions.md)")
        plans = await api.call("GET", "/v1/plans", what="listing the plans")
        for plan in plans["data"]:
            jobs = plan["limits"].get("published_jobs_per_month")
            say(
                f"  {plan['id']:<8} {plan['amount'] // 100}.{plan['amount'] % 100:02d} "
                f"{plan['currency'].upper()}/{plan['interval']}: "
                f"{'unlimited' if jobs is None else jobs} published jobs a month"
                f" (for {'an organization' if plan['audience'] == 'organization' else 'a person'})"
            )
    return DemoResult(
        escrow=escrow,
        users=users,
        created_users=made,
        payout=payout,
        disputed=disputed,
        dispute=dispute,
        paypal_escrow=paypal_escrow,
        paypal_payout=paypal_payout,
    )


def _usd(amount: int) -> str:
    return Money(amount, "usd").format()


async def _first_escrow(
    api: Api, client: str, card: str, users: dict[str, tuple[str, str]], say: Say
) -> dict[str, Any]:
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
        "POST", f"{path}/fund", client, {"payment_method": card}, key=f"{eid}:fund", what="funding"
    )
    _expect(escrow, "held", "funding")
    say(f"  funded with the card: {escrow['status']}")
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
    return escrow


def _span(seconds: int) -> str:
    """``2 days``, ``30 minutes``: how far the sandbox clock moves, as a person says it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size, 1)
            shown = f"{n:g}"
            return f"{shown} {unit}{'' if shown == '1' else 's'}"
    return f"{seconds} seconds"


def _figure(figures: list[dict[str, Any]], currency: str = "usd") -> int:
    return next((int(f["amount"]) for f in figures if f["currency"] == currency), 0)


async def pay_out(
    api: Api,
    *,
    worker: str,
    admin: str,
    amount: int,
    key: str,
    settle: Callable[[], Awaitable[object]],
    say: Say = _noop,
) -> dict[str, Any] | None:
    """``amount`` of the worker's available money paid out: requested by the worker, approved
    by the admin, the sandbox clock moved to the payout's arrival; returns it ``paid``.

    None, having said why, when the money is not available yet (a payout delay).
    """
    balance = await api.call("GET", "/v1/balance", worker, what="reading worker1's balance")
    available, pending = _figure(balance["available"]), _figure(balance["pending"])
    say(f"  worker1's balance: {_usd(available)} available, {_usd(pending)} pending")
    if available < amount:
        say(
            f"  no payout this time: the {_usd(amount)} released is pending until the payout "
            "delay (ESCROWD_PAYOUT_DELAY_SECONDS) has passed; a payout takes available money "
            "only"
        )
        return None
    payout = await api.call(
        "POST",
        "/v1/payouts",
        worker,
        {"amount": amount, "currency": "usd"},
        key=f"{key}:payout",
        what="requesting the payout",
    )
    po = payout["id"]
    say(f"  worker1 requested {_usd(amount)} ({po}): {payout['status']}, the money held")
    payout = await api.call(
        "POST", f"/v1/payouts/{po}/approve", admin, {}, key=f"{po}:approve", what="approving"
    )
    if payout["status"] != "in_transit":
        raise DemoError(
            f"the approved payout {po} is {payout['status']}"
            + (f": {payout['failure_message']}" if payout.get("failure_message") else "")
        )
    clock = await api.call("GET", "/v1/sandbox/clock", admin, what="reading the sandbox clock")
    wait = max(1, int(payout["arrival_date"]) - int(clock["now"]))
    say(
        f"  the admin approved it: {payout['status']} at the provider as "
        f"{payout['provider_payout']}, arriving in {_span(wait)}"
    )
    await api.call(
        "POST",
        "/v1/sandbox/clock/advance",
        admin,
        {"seconds": wait},
        what="moving the sandbox clock",
    )
    await settle()  # the sandbox's payout.paid, checked against the provider's payout
    payout = await api.call("GET", f"/v1/payouts/{po}", worker, what="reading the payout")
    if payout["status"] != "paid":
        raise DemoError(f"after its arrival date the payout {po} is {payout['status']}")
    say(
        f"  the sandbox clock moved {_span(wait)} to the arrival date "
        f"(`escrowd sandbox clock show`): {payout['status']}, worker1's bank has it"
    )
    return payout


async def disputed_escrow(
    api: Api,
    bearer: dict[str, str],
    users: dict[str, tuple[str, str]],
    card: str,
    *,
    settle: Callable[[], Awaitable[object]],
    say: Say = _noop,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A $30.00 escrow for worker2, funded, disputed by the client, reviewed by the admin and
    split: $20.00 released, $10.00 refunded. Returns the escrow and the dispute."""
    client, admin = bearer["client"], bearer["admin"]
    escrow = await api.call(
        "POST",
        "/v1/escrows",
        client,
        {
            "currency": "usd",
            "amount": DISPUTED_AMOUNT,
            "allocations": [{"payee": users["worker2"][0], "amount": DISPUTED_AMOUNT}],
            "fee_policy": FEE_POLICY,
            "description": "Demo: a logo in three variants, disputed",
            "metadata": {"demo": "true"},
        },
        what="creating the second escrow",
    )
    eid = escrow["id"]
    escrow = await api.call(
        "POST",
        f"/v1/escrows/{eid}/fund",
        client,
        {"payment_method": card},
        key=f"{eid}:fund",
        what="funding the second escrow",
    )
    _expect(escrow, "held", "funding the second escrow")
    say(f"  created and funded {eid}: {_usd(DISPUTED_AMOUNT)} for worker2, {escrow['status']}")
    dispute = await api.call(
        "POST",
        "/v1/disputes",
        client,
        {
            "escrow": eid,
            "reason": "incomplete",
            "description": "Two of the three logo variants were delivered.",
            "evidence": ["The delivery has two files; the brief asked for three."],
        },
        key=f"{eid}:dispute",
        what="opening the dispute",
    )
    dsp = dispute["id"]
    path = f"/v1/disputes/{dsp}"
    say(f"  the client opened {dsp} ({dispute['reason']}): {dispute['status']}, the escrow frozen")
    await api.call(
        "POST",
        f"{path}/evidence",
        bearer["worker2"],
        {"note": "The third variant was dropped by agreement in the project chat."},
        what="adding evidence",
    )
    dispute = await api.call("POST", f"{path}/review", admin, {}, what="reviewing the dispute")
    say(f"  worker2 added evidence; the admin reviews it: {dispute['status']}")
    dispute = await api.call(
        "POST",
        f"{path}/resolve",
        admin,
        {
            "outcome": "split",
            "release_amount": DISPUTE_RELEASE,
            "refund_amount": DISPUTE_REFUND,
            "notes": "Two of three variants delivered: two thirds paid, the rest refunded.",
        },
        key=f"{dsp}:resolve",
        what="resolving the dispute",
    )
    await settle()
    dispute = await api.call("GET", path, admin, what="reading the dispute")
    escrow = await api.call("GET", f"/v1/escrows/{eid}", admin, what="reading the second escrow")
    if dispute["status"] != "resolved":
        raise DemoError(f"after its resolution the dispute {dsp} is {dispute['status']}")
    say(
        f"  the admin split it: {_usd(DISPUTE_RELEASE)} released to worker2, "
        f"{_usd(DISPUTE_REFUND)} refunded to the client: dispute {dispute['status']}, "
        f"escrow {escrow['status']}"
    )
    return escrow, dispute


async def paypal_chapter(
    api: Api,
    bearer: dict[str, str],
    users: dict[str, tuple[str, str]],
    *,
    settle: Callable[[], Awaitable[object]],
    say: Say = _noop,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A $25.00 escrow for worker2 paid with PayPal: the client approves the order on the
    PayPal sandbox's approval page, funds it, releases it; worker2 sets their PayPal email and
    pays their net out there (approved by the admin). Returns the escrow and the payout (None
    when the net is not available yet: a payout delay)."""
    client, admin, worker = bearer["client"], bearer["admin"], bearer["worker2"]
    escrow = await api.call(
        "POST",
        "/v1/escrows",
        client,
        {
            "currency": "usd",
            "amount": PAYPAL_AMOUNT,
            "allocations": [{"payee": users["worker2"][0], "amount": PAYPAL_AMOUNT}],
            "fee_policy": FEE_POLICY,
            "payment_provider": "paypal",
            "description": "Demo: a favicon set, paid with PayPal",
            "metadata": {"demo": "true"},
        },
        what="creating the PayPal escrow",
    )
    eid = escrow["id"]
    path = f"/v1/escrows/{eid}"
    escrow = await api.call("POST", f"{path}/fund", client, {}, key=f"{eid}:fund", what="funding")
    _expect(escrow, "requires_action", "asking PayPal for the order")
    link = httpx.URL(escrow["next_action"]["url"])
    order = link.params["token"]
    say(f"  created {eid}: {_usd(PAYPAL_AMOUNT)} for worker2; PayPal order {order} to approve")
    page = await api.client.get(link.raw_path.decode())
    if page.status_code != 200:
        raise DemoError(f"PayPal's approval page answered HTTP {page.status_code}")
    approved = await api.client.post(
        f"{link.path.removesuffix('/checkoutnow')}/checkoutnow/{order}",
        data={"action": "approve", "funding": "balance"},
    )
    if approved.status_code not in (200, 303):
        raise DemoError(f"approving on PayPal's page failed: HTTP {approved.status_code}")
    escrow = await api.call(
        "POST", f"{path}/fund", client, {}, key=f"{eid}:fund:approved", what="confirming"
    )
    _expect(escrow, "held", "the payer's approval on PayPal")
    say(
        f"  the client approved it on the PayPal sandbox's page; PayPal captured it "
        f"({escrow['payment']['charge']}): {escrow['status']}"
    )
    escrow = await api.call(
        "POST", f"{path}/release", client, {}, key=f"{eid}:release", what="releasing"
    )
    _expect(escrow, "released", "the release")
    net = int(escrow["allocations"][0]["net_released"])
    say(
        f"  released: worker2's net {_usd(net)} stays on the platform's PayPal balance "
        "(no transfer: PayPal has none) until paid out"
    )
    await settle()
    await api.call(
        "POST",
        "/v1/payout_destination",
        worker,
        {"paypal_email": PAYPAL_EMAIL},
        what="saving worker2's PayPal email",
    )
    balance = await api.call("GET", "/v1/balance", worker, what="reading worker2's balance")
    if _figure(balance["available"]) < net:
        say("  no PayPal payout this time: worker2's net is still pending (a payout delay)")
        return escrow, None
    payout = await api.call(
        "POST",
        "/v1/payouts",
        worker,
        {"amount": net, "currency": "usd", "provider": "paypal"},
        key=f"{eid}:payout",
        what="requesting the PayPal payout",
    )
    po = payout["id"]
    payout = await api.call(
        "POST", f"/v1/payouts/{po}/approve", admin, {}, key=f"{po}:approve", what="approving"
    )
    await settle()
    payout = await api.call("GET", f"/v1/payouts/{po}", worker, what="reading the payout")
    if payout["status"] != "paid":
        raise DemoError(f"the PayPal payout {po} is {payout['status']}")
    say(
        f"  worker2 asked for {_usd(net)} to {payout['receiver_email']}; the admin approved "
        f"it: a PayPal Payouts item ({payout['provider_payout']}), {payout['status']}"
    )
    return escrow, payout


# --- escrowd serve -------------------------------------------------------------------------------


@dataclass
class Seeded:
    logins: list[tuple[str, str, str]]
    #: The demo escrow's id, or None when making it failed (``error`` says why).
    escrow_id: str | None = None
    error: str | None = None


async def seed_demo(settings: Settings) -> Seeded | None:
    """In an empty development database: the demo logins and one run of the demo (its escrow,
    payout and disputed escrow; the sandbox clock moves to the payout's arrival).

    None when there is nothing to do (production, or the database has users). The demo may
    fail (a provider other than the sandbox, a bug): the logins stay and ``error``
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
