"""What subscriptions refuse: forged provider events, organization plans managed by anyone but
the organization's admins, and bad input (the envelope, nothing written)."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import select, text

from escrowd.clock import unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET
from escrowd.providers.stripe.signature import sign
from escrowd.webhooks.inbound import process_pending
from escrowd.webhooks.models import InboundWebhookEvent
from tests.accounts.conftest import add_member, make_org
from tests.escrows.conftest import Ctx, api_key_headers, keyed, payer, person
from tests.integration.conftest import make_user
from tests.subscriptions.conftest import (
    active,
    check,
    revenue_transfers,
    stripe,
    sub_of,
    subscribe,
    use,
)

Body = dict[str, Any]


async def _deliver(ctx: Ctx, type_: str, obj: Body) -> str:
    """A validly signed event (the attacker holds the secret), posted and processed."""
    body = {
        "id": f"evt_forged_{obj['id']}_{type_}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": unix(ctx.container.clock.now()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": obj},
    }
    raw = json.dumps(body).encode()
    signature = sign(raw, SANDBOX_WEBHOOK_SECRET, unix(ctx.container.clock.now()))
    r = await ctx.client.post(
        "/v1/webhooks/stripe",
        content=raw,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert r.status_code == 200, r.text
    await process_pending(ctx.container)
    async with ctx.container.db.transaction() as s:
        status = await s.scalar(
            select(InboundWebhookEvent.status).where(InboundWebhookEvent.event_id == body["id"])
        )
    assert status is not None
    return str(status)


async def test_forged_invoice_events_book_nothing_and_change_nothing(ctx: Ctx) -> None:
    who = await payer(ctx)
    sub = await active(ctx, who)
    invoice = await stripe(ctx, "GET", f"invoices/{sub['latest_invoice']}")
    # A renewal "paid" that the provider never issued.
    fake = copy.deepcopy(invoice) | {"id": "in_forged0001", "billing_reason": "subscription_cycle"}
    assert await _deliver(ctx, "invoice.paid", fake) == "rejected"
    # Another subscriber's real paid invoice, relabelled as this subscription's.
    other_sub = await active(ctx, await payer(ctx))
    other = await stripe(ctx, "GET", f"invoices/{other_sub['latest_invoice']}")
    relabelled = copy.deepcopy(other) | {"subscription": sub["provider_subscription"]}
    assert await _deliver(ctx, "invoice.paid", relabelled) == "rejected"
    # A "payment failed" for an invoice that was paid: the provider says active, so active.
    failed = copy.deepcopy(invoice) | {"status": "open", "paid": False}
    assert await _deliver(ctx, "invoice.payment_failed", failed) == "processed"
    # A "deleted" subscription the provider still has active.
    at_provider = await stripe(ctx, "GET", f"subscriptions/{sub['provider_subscription']}")
    dead = copy.deepcopy(at_provider) | {"status": "canceled"}
    assert await _deliver(ctx, "customer.subscription.deleted", dead) == "processed"
    assert list((await revenue_transfers(ctx, sub["id"])).values()) == [4900]
    assert list((await revenue_transfers(ctx, other_sub["id"])).values()) == [4900]
    assert (await sub_of(ctx, who, sub["id"]))["status"] == "active"
    # The real invoice.paid delivered again books nothing more (idempotent).
    assert await _deliver(ctx, "invoice.paid", invoice) == "processed"
    assert list((await revenue_transfers(ctx, sub["id"])).values()) == [4900]


async def test_a_team_plan_is_subscribed_and_managed_by_the_organizations_admins(
    ctx: Ctx,
) -> None:
    admin = person(ctx, await make_user(ctx.container, role="client"))
    member = person(ctx, await make_user(ctx.container, role="client"))
    stranger = await payer(ctx)
    org = await make_org(ctx.client, admin, name="Billing QA")
    await add_member(ctx.client, org, admin, member)
    # A member may not subscribe the organization.
    refused = await subscribe(ctx, member, "team", status=403, organization=org)
    assert refused["error"]["code"] == "organization_admin_required"
    # Team needs an organization; Pro is not for one.
    assert (await subscribe(ctx, admin, "team", status=400))["error"]["param"] == "organization"
    wrong = await subscribe(ctx, admin, "pro", status=400, organization=org)
    assert wrong["error"]["code"] == "plan_audience_mismatch"
    sub = await active(ctx, admin, "team", organization=org)
    assert (sub["owner"], sub["payer"], sub["plan"]) == (org, admin.id, "team")
    assert list((await revenue_transfers(ctx, sub["id"])).values()) == [19900]
    # Members see it and publish on the organization's plan; strangers do not see it.
    assert (await sub_of(ctx, member, sub["id"]))["plan"] == "team"
    for n in range(6):
        await use(ctx, member, f"org-{n}", owner=org)
    assert (await check(ctx, member, owner=org))["plan"] == "team"
    assert (await check(ctx, member))["plan"] == "starter"  # the member's own plan
    r = await ctx.client.get(f"/v1/subscriptions/{sub['id']}", headers=stranger.headers)
    assert r.status_code == 404
    assert (await use(ctx, stranger, "x", status=404, owner=org))["error"]["param"] == "owner"
    # Only an admin of the organization cancels it.
    r = await ctx.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel", headers=keyed(member.headers)
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "organization_admin_required"
    r = await ctx.client.post(f"/v1/subscriptions/{sub['id']}/cancel", headers=keyed(admin.headers))
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True


TABLES = ("subscriptions", "usage_counters", "usage_records", "plans", "events")


async def _counts(ctx: Ctx) -> dict[str, int]:
    async with ctx.container.db.transaction() as s:
        return {t: int(await s.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}


async def test_bad_input_gets_the_envelope_and_writes_nothing(ctx: Ctx) -> None:
    who = await payer(ctx)
    admin = await api_key_headers(ctx)
    before = await _counts(ctx)
    cases: list[tuple[str, Body, dict[str, str], int, str]] = [
        ("/v1/subscriptions", {"plan": "gold"}, keyed(who.headers), 404, "resource_missing"),
        ("/v1/subscriptions", {"plan": "starter"}, keyed(who.headers), 400, "plan_free"),
        ("/v1/subscriptions", {"plan": "Pro!"}, keyed(who.headers), 400, "parameter_invalid"),
        ("/v1/subscriptions", {"plan": "pro", "x": 1}, keyed(who.headers), 400, ""),
        ("/v1/subscriptions", {"plan": "pro"}, who.headers, 400, "idempotency_key_required"),
        ("/v1/subscriptions", {"plan": "pro"}, keyed(admin), 403, "user_token_required"),
        ("/v1/limits/check", {"limit": "seats"}, who.headers, 400, "parameter_invalid"),
        ("/v1/usage", {"limit": "published_jobs_per_month"}, who.headers, 400, "parameter_missing"),
        ("/v1/usage", {"limit": "published_jobs_per_month", "key": "k"}, admin, 400, ""),
        (
            "/v1/limits/check",
            {"limit": "published_jobs_per_month", "owner": 5},
            who.headers,
            400,
            "",
        ),
        ("/v1/plans", {"code": "x", "name": "X", "amount": 1, "currency": "usd"}, admin, 400, ""),
        (
            "/v1/plans",
            {"code": "pro", "name": "Pro", "amount": 1, "currency": "usd"},
            admin,
            409,
            "plan_exists",
        ),
        (
            "/v1/plans",
            {"code": "cheap", "name": "C", "amount": -1, "currency": "usd"},
            admin,
            400,
            "",
        ),
        (
            "/v1/plans",
            {"code": "cheap", "name": "C", "amount": 1, "currency": "usd", "limits": {"seats": 1}},
            admin,
            400,
            "",
        ),
        (
            "/v1/plans",
            {"code": "cheap", "name": "C", "amount": 1, "currency": "usd"},
            who.headers,
            403,
            "admin_required",
        ),
    ]
    for path, body, headers, status, code in cases:
        r = await ctx.client.post(path, json=body, headers=headers)
        assert r.status_code == status, (path, body, r.text)
        error = r.json()["error"]
        assert set(error) == {"type", "code", "message", "param"}, error
        if code:
            assert error["code"] == code, (body, error)
    r = await ctx.client.post(
        "/v1/subscriptions/subs_01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", headers=keyed(who.headers)
    )
    assert r.status_code == 404
    assert await _counts(ctx) == before
