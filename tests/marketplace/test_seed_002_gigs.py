"""Seed 002, Hire an Expert: a client pays an expert for a gig, walked through the HTTP API.

The seed's numbers: a $200.00 gig, the platform's 10 % commission (Stripe's
``application_fee_amount``), the platform bearing Stripe's 2.9 % + 30¢ ($6.10 on $200.00): the
expert receives exactly $180.00, the platform's fees account gains $20.00.

One scenario, in order: the expert onboards through the core accounts API (a link left unused
and refreshed, the hosted onboarding page, the status refreshed, a dashboard link), a gig
refused while the expert is not verified; gig A authorized, retried with its key (replayed,
then after the stored answer is purged: found by the gig's own key, no second authorization)
and completed (captured and released: $180.00 to the expert); gig B cancelled before the
capture (voided: nothing charged); gig C captured at its authorization's deadline, then
cancelled (refunded in full). Every balance is checked to the cent after each step, and
``ledger verify`` passes at the end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ulid import ULID

from escrowd.api.idempotency import purge_expired
from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps as escrow_sweeps
from escrowd.escrows.ledgering import PLATFORM_FEES, PROCESSING_COSTS
from escrowd.ledger.verify import summary_lines, verify
from tests.accounts.conftest import REFRESH_URL, RETURN_URL, settle
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    Sandbox,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    ledger_balance,
    payer,
    person,
    quiet,
    run_jobs,
    sweep,
    verified_payee,
)
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import Account, bearer, make_api_key, make_user

PRICE = 20_000  # $200.00, the seed's gig
COMMISSION = 2_000  # 10 %
EXPERT_GETS = 18_000  # $180.00
STRIPE_FEE = 580 + 30  # 2.9 % of $200.00 + 30¢, borne by the platform

Json = dict[str, Any]


def _key() -> str:
    return f"gig-{ULID()}"


async def call(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None, *, key: str | None
) -> Any:
    headers = dict(who.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await ctx.client.request(method, path, json=body, headers=headers)


async def ok(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None = None, key: str | None = None
) -> Json:
    if method == "POST" and key is None:
        key = _key()
    r = await call(ctx, who, method, path, body, key=key)
    assert r.status_code == 200, r.text
    out: Json = r.json()
    return out


async def refused(
    ctx: Ctx, who: Account, method: str, path: str, body: Json | None, status: int, code: str
) -> None:
    r = await call(ctx, who, method, path, body, key=_key() if method == "POST" else None)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


async def balance(ctx: Ctx, who: Account) -> Json:
    found = await ok(ctx, who, "GET", "/v1/balance")
    usd = [b["amount"] for b in found["available"] if b["currency"] == "usd"]
    pending = [b["amount"] for b in found["pending"] if b["currency"] == "usd"]
    return {"available": sum(usd), "pending": sum(pending)}


def hire(expert: str, amount: int = PRICE) -> Json:
    return {
        "expert": expert,
        "amount": amount,
        "currency": "usd",
        "description": "Web development service",
        "payment_method": "pm_card_visa",
    }


async def test_seed_002_hire_an_expert_end_to_end(ctx: Ctx, sandbox: Sandbox) -> None:
    container = ctx.container
    clock = container.clock
    assert isinstance(clock, FrozenClock)
    client_ = await payer(ctx)
    expert = person(ctx, await make_user(container, role="worker"))
    admin = person(ctx, await make_user(container, role="admin"))
    stranger = await payer(ctx)
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    fees_before = await ledger_balance(ctx, PLATFORM_FEES)
    costs_before = await ledger_balance(ctx, PROCESSING_COSTS)

    # --- the expert onboards, through the core accounts API -------------------------------
    await refused(ctx, client_, "POST", "/v1/gigs", hire(expert.id), 409, "payee_account_missing")
    account = await ok(ctx, expert, "POST", "/v1/accounts", {"country": "US"})
    links = {"refresh_url": REFRESH_URL, "return_url": RETURN_URL}
    first = await ok(ctx, expert, "POST", f"/v1/accounts/{account['id']}/onboarding_link", links)
    await refused(ctx, client_, "POST", "/v1/gigs", hire(expert.id), 409, "payee_account_pending")
    # The expert comes back later: "refresh onboarding" is a new link (the first is unused).
    again = await ok(ctx, expert, "POST", f"/v1/accounts/{account['id']}/onboarding_link", links)
    assert again["url"] != first["url"]
    done = await ctx.browser.onboard(again["url"])
    assert (done.status_code, done.headers["location"]) == (303, RETURN_URL), done.text
    refreshed = await ok(ctx, expert, "POST", f"/v1/accounts/{account['id']}/refresh")
    assert refreshed["status"] == "verified", refreshed
    await settle(container)
    dashboard = await ok(ctx, expert, "POST", f"/v1/accounts/{account['id']}/dashboard_link")
    assert dashboard["url"].startswith("http"), dashboard
    assert await balance(ctx, expert) == {"available": 0, "pending": 0}

    # --- gig A: authorized, retried with its key, completed ---------------------------------
    key_a = _key()
    gig = await ok(ctx, client_, "POST", "/v1/gigs", hire(expert.id), key=key_a)
    assert (gig["status"], gig["escrow_status"]) == ("authorized", "authorized")
    assert (gig["amount"], gig["commission"], gig["expert_amount"]) == (
        PRICE,
        COMMISSION,
        EXPERT_GETS,
    )
    assert (gig["client"], gig["expert"]) == (client_.id, expert.id)
    assert gig["capture_before"] is not None
    escrow = await ok(ctx, client_, "GET", f"/v1/escrows/{gig['escrow']}")
    pi = escrow["payment"]["id"]
    assert (escrow["capture_mode"], escrow["payment"]["attempts"]) == ("authorize", 1)
    assert (await sandbox.payment(pi))["status"] == "requires_capture"
    assert (await sandbox.payment(pi))["amount"] == PRICE
    # The same key: the stored answer is replayed.
    replay = await ok(ctx, client_, "POST", "/v1/gigs", hire(expert.id), key=key_a)
    assert replay == gig
    # A day later the stored answer is gone; the gig remembers its key: the same gig, and the
    # card is not authorized a second time.
    clock.advance(timedelta(seconds=container.settings.idempotency_ttl_seconds + 1))
    assert await purge_expired(container) > 0
    retry = await ok(ctx, client_, "POST", "/v1/gigs", hire(expert.id), key=key_a)
    assert retry["id"] == gig["id"]
    escrow = await ok(ctx, client_, "GET", f"/v1/escrows/{gig['escrow']}")
    assert escrow["payment"]["attempts"] == 1
    # The key reused for another price, once the API layer forgot it: the gig still refuses.
    clock.advance(timedelta(seconds=container.settings.idempotency_ttl_seconds + 1))
    assert await purge_expired(container) > 0
    r = await call(ctx, client_, "POST", "/v1/gigs", hire(expert.id, PRICE + 1), key=key_a)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "idempotency_key_reused"), r.text
    assert gig["id"] in r.json()["error"]["message"]
    mine = await ok(ctx, client_, "GET", "/v1/gigs")
    assert [g["id"] for g in mine["data"]] == [gig["id"]]
    # Only the client (or the platform) completes; the expert reads; strangers see nothing.
    path = f"/v1/gigs/{gig['id']}"
    assert (await ok(ctx, expert, "GET", path))["id"] == gig["id"]
    await refused(ctx, expert, "POST", f"{path}/complete", None, 403, "payee_read_only")
    await refused(ctx, stranger, "GET", path, None, 404, "resource_missing")
    await refused(ctx, stranger, "POST", f"{path}/cancel", None, 404, "resource_missing")
    assert await balance(ctx, expert) == {"available": 0, "pending": 0}

    done_gig = await ok(ctx, client_, "POST", f"{path}/complete")
    assert (done_gig["status"], done_gig["escrow_status"]) == ("completed", "released")
    assert (await sandbox.payment(pi))["status"] == "succeeded"
    (transfer,) = await sandbox.transfers(gig["escrow"])
    assert transfer["amount"] == EXPERT_GETS
    await settle(container)
    await run_jobs(container)
    assert await balance(ctx, expert) == {"available": EXPERT_GETS, "pending": 0}
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == COMMISSION
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == STRIPE_FEE
    status = await ok(ctx, expert, "GET", f"{path}/status")
    assert status == {
        "id": gig["id"],
        "object": "gig_status",
        "status": "completed",
        "escrow_status": "released",
    }
    await refused(ctx, client_, "POST", f"{path}/cancel", None, 409, "gig_completed")
    await refused(ctx, client_, "POST", f"{path}/complete", None, 409, "gig_closed")

    # --- gig B: cancelled before the capture: the authorization is voided --------------------
    gig_b = await ok(ctx, client_, "POST", "/v1/gigs", hire(expert.id))
    assert gig_b["status"] == "authorized"
    pi_b = (await ok(ctx, client_, "GET", f"/v1/escrows/{gig_b['escrow']}"))["payment"]["id"]
    voided = await ok(
        ctx, client_, "POST", f"/v1/gigs/{gig_b['id']}/cancel", {"reason": "requested_by_customer"}
    )
    assert (voided["status"], voided["escrow_status"]) == ("voided", "cancelled")
    await run_jobs(container)
    await settle(container)
    assert (await sandbox.payment(pi_b))["status"] == "canceled"
    assert await sandbox.refunds(pi_b) == []
    assert await balance(ctx, expert) == {"available": EXPERT_GETS, "pending": 0}
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == COMMISSION
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == STRIPE_FEE
    await refused(ctx, client_, "POST", f"/v1/gigs/{gig_b['id']}/complete", None, 409, "gig_closed")

    # --- gig C: captured at its authorization's deadline, then cancelled: refunded ----------
    gig_c = await ok(ctx, client_, "POST", "/v1/gigs", hire(expert.id))
    assert gig_c["status"] == "authorized"
    pi_c = (await ok(ctx, client_, "GET", f"/v1/escrows/{gig_c['escrow']}"))["payment"]["id"]
    # The authorization lasts 7 days; a day before it ends the core captures it.
    clock.advance(timedelta(days=6, hours=1))
    await sweep(container, escrow_sweeps.authorizations)
    await run_jobs(container)
    await settle(container)
    captured = await ok(ctx, client_, "GET", f"/v1/gigs/{gig_c['id']}")
    assert (captured["status"], captured["escrow_status"]) == ("captured", "held")
    assert (await sandbox.payment(pi_c))["status"] == "succeeded"
    refunded = await ok(ctx, client_, "POST", f"/v1/gigs/{gig_c['id']}/cancel")
    assert (refunded["status"], refunded["escrow_status"]) == ("refunded", "refunded")
    (refund,) = await sandbox.refunds(pi_c)
    assert refund["amount"] == PRICE
    await settle(container)
    await run_jobs(container)
    # Nothing more for the expert, no commission on a refunded gig; Stripe keeps its fee on
    # the refunded charge, which the platform bears.
    assert await balance(ctx, expert) == {"available": EXPERT_GETS, "pending": 0}
    assert await ledger_balance(ctx, PLATFORM_FEES) - fees_before == COMMISSION
    assert costs_before - await ledger_balance(ctx, PROCESSING_COSTS) == 2 * STRIPE_FEE

    # --- payment history ----------------------------------------------------------------------
    for who in (client_, expert):
        history = await ok(ctx, who, "GET", "/v1/gigs")
        assert [(g["id"], g["status"]) for g in history["data"]] == [
            (gig_c["id"], "refunded"),
            (gig_b["id"], "voided"),
            (gig["id"], "completed"),
        ]
    only = await ok(ctx, admin, "GET", "/v1/gigs?status=completed")
    assert [g["id"] for g in only["data"]] == [gig["id"]]
    assert (await ok(ctx, stranger, "GET", "/v1/gigs"))["data"] == []

    report = await verify(container.db)
    assert report.ok, summary_lines(report)


async def test_hiring_refusals_write_nothing(ctx: Ctx) -> None:
    expert = await verified_payee(ctx)
    client_ = await payer(ctx)
    _, api_key = await make_api_key(ctx.container)
    cases: list[tuple[dict[str, str], Json, int, str]] = [
        (expert.headers, hire(client_.id), 403, "role_required"),
        (bearer(api_key), hire(expert.id), 403, "user_token_required"),
        (client_.headers, hire(client_.id), 400, "expert_invalid"),
        (client_.headers, {**hire(expert.id), "amount": 0}, 400, "parameter_invalid"),
        (client_.headers, {**hire(expert.id), "amount": "200.00"}, 400, "parameter_invalid"),
        (client_.headers, {**hire(expert.id), "commission": 1}, 400, "parameter_unknown"),
        (client_.headers, {"amount": PRICE, "currency": "usd"}, 400, "parameter_missing"),
    ]
    for headers, body, status, code in cases:
        r = await ctx.client.post(
            "/v1/gigs", json=body, headers={**headers, "Idempotency-Key": _key()}
        )
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    r = await ctx.client.post("/v1/gigs", json=hire(expert.id), headers=client_.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "idempotency_key_required")
    r = await ctx.client.get("/v1/gigs", headers=client_.headers)
    assert r.json()["data"] == []


async def test_a_declined_card_leaves_the_gig_awaiting_payment(ctx: Ctx) -> None:
    expert = await verified_payee(ctx)
    client_ = await payer(ctx)
    body = {**hire(expert.id), "payment_method": "pm_card_chargeDeclined"}
    r = await ctx.client.post(
        "/v1/gigs", json=body, headers={**client_.headers, "Idempotency-Key": _key()}
    )
    assert (r.status_code, r.json()["error"]["type"]) == (402, "card_error"), r.text
    (gig,) = (await ok(ctx, client_, "GET", "/v1/gigs?status=awaiting_payment"))["data"]
    assert gig["last_payment_error"] is not None
    await refused(
        ctx, client_, "POST", f"/v1/gigs/{gig['id']}/complete", None, 409, "gig_not_authorized"
    )
    voided = await ok(ctx, client_, "POST", f"/v1/gigs/{gig['id']}/cancel")
    assert voided["status"] == "voided"
