"""A validly signed event can still lie: escrowd checks what it claims with the provider.

Each attack below once funded an unpaid escrow (or expired a paid one, or took back a payee's
money) with nothing behind it. Now each ends with the escrow as it was, no ledger movement,
the event kept as ``rejected``, and one ``webhook.mismatch`` incident that shows an admin
what the event claimed, what the provider said and what escrowd had recorded.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select
from ulid import ULID

from escrowd.clock import unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET
from escrowd.escrows.ledgering import escrow_account, payee_available
from escrowd.ledger.models import LedgerTransfer
from escrowd.providers.base import PaymentProvider
from escrowd.providers.stripe.signature import sign
from escrowd.providers.types import CaptureRequest, PaymentRequest
from escrowd.webhooks.inbound import process_pending
from escrowd.webhooks.models import InboundWebhookEvent
from tests.escrows.conftest import (
    Ctx,
    Sandbox,
    api_key_headers,
    create_escrow,
    funded,
    get,
    ledger_balance,
    payees,
    payer,
    post,
)
from tests.escrows.test_webhooks import captured_events, released_to_one_payee

pytestmark = pytest.mark.stripe_only(
    "forged Stripe events; lying PayPal events are tests/paypal/test_paypal_events.py's"
)

Body = dict[str, Any]

ESCROW_AMOUNT = 250_000


def provider_of(ctx: Ctx) -> PaymentProvider:
    provider = ctx.container.provider
    assert isinstance(provider, PaymentProvider)
    return provider


def event_about(obj: Body, type_: str, *, account: str | None = None) -> Body:
    body: Body = {
        "id": f"evt_{ULID()}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": obj.get("created", 0),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": obj},
    }
    if account is not None:
        body["account"] = account
    return body


async def deliver(ctx: Ctx, body: Body) -> None:
    """Sign as the sandbox signs (the attacker holds a valid secret), post, process."""
    raw = json.dumps(body).encode()
    signature = sign(raw, SANDBOX_WEBHOOK_SECRET, unix(ctx.container.clock.now()))
    r = await ctx.client.post(
        "/v1/webhooks/stripe",
        content=raw,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert r.status_code == 200, r.text
    await process_pending(ctx.container)


async def stored_status(ctx: Ctx, event_id: str) -> str:
    async with ctx.container.db.transaction() as s:
        status = await s.scalar(
            select(InboundWebhookEvent.status).where(InboundWebhookEvent.event_id == event_id)
        )
    assert status is not None, event_id
    return status


async def ledger_transfers_of(ctx: Ctx, escrow_id: str) -> int:
    async with ctx.container.db.transaction() as s:
        rows = await s.scalars(
            select(LedgerTransfer.id).where(LedgerTransfer.reference == escrow_id)
        )
        return len(rows.all())


async def mismatch_incidents(ctx: Ctx, event_id: str) -> list[Body]:
    r = await ctx.client.get(
        "/v1/incidents",
        params={"kind": "webhook.mismatch", "limit": 100},
        headers=await api_key_headers(ctx),
    )
    assert r.status_code == 200, r.text
    return [i for i in r.json()["data"] if i["subject"] == f"webhook:stripe:{event_id}"]


async def assert_nothing_moved(ctx: Ctx, who: Any, escrow_id: str, body: Body) -> Body:
    """The escrow is still unpaid, its ledger untouched; one incident shows both sides."""
    escrow = await get(ctx, who, escrow_id)
    assert escrow["status"] == "requires_payment", escrow
    assert escrow["amount_held"] == 0
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    assert await ledger_transfers_of(ctx, escrow_id) == 0
    assert await stored_status(ctx, body["id"]) == "rejected"
    (incident,) = await mismatch_incidents(ctx, body["id"])
    assert incident["status"] == "open"
    assert incident["job"] is None
    assert incident["details"]["event"]["id"] == body["id"]
    return incident


async def real_payment(
    ctx: Ctx, *, amount: int, currency: str, escrow_id: str, capture: bool = True
) -> str:
    """A payment that really succeeded at the provider, naming someone else's escrow."""
    payment = await provider_of(ctx).create_payment(
        PaymentRequest(
            idempotency_key=f"test:{ULID()}",
            amount=amount,
            currency=currency,
            capture_method="automatic" if capture else "manual",
            payment_method="pm_card_visa",
            confirm=True,
            metadata={"escrow_id": escrow_id},
        )
    )
    return payment.id


async def test_a_copy_of_a_real_payment_under_a_new_id_funds_nothing(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    paid = await funded(ctx, client_, [(worker, 1000)])
    victim = await create_escrow(ctx, client_, [(worker, ESCROW_AMOUNT)])
    forged = copy.deepcopy(await sandbox.payment(paid["payment"]["id"]))
    forged.update(id=f"pi_{ULID()}", amount=ESCROW_AMOUNT, amount_received=ESCROW_AMOUNT)
    forged["metadata"] = {"escrow_id": victim["id"]}
    body = event_about(forged, "payment_intent.succeeded")

    await deliver(ctx, body)

    incident = await assert_nothing_moved(ctx, client_, victim["id"], body)
    assert "does not have" in incident["error"]
    assert incident["details"]["provider"] is None
    assert incident["details"]["claimed"]["id"] == forged["id"]
    # Evidence, not a failed job: nothing to replay; an admin dismisses it once looked into.
    admin = await api_key_headers(ctx)
    r = await ctx.client.post(f"/v1/incidents/{incident['id']}/replay", headers=admin)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "nothing_to_replay"
    r = await ctx.client.post(f"/v1/incidents/{incident['id']}/dismiss", headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["resolution"]) == ("resolved", "dismissed")


async def test_a_tiny_payment_naming_a_large_escrow_funds_nothing(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    victim = await create_escrow(ctx, client_, [(worker, ESCROW_AMOUNT)])
    # The smallest charge the provider takes; the attack's event claimed the escrow's amount.
    payment_id = await real_payment(ctx, amount=50, currency="usd", escrow_id=victim["id"])
    (real,) = [
        e for e in await captured_events(ctx, payment_id) if e["type"] == "payment_intent.succeeded"
    ]
    # The event even lies about the amount; the provider's object tells the truth.
    body = copy.deepcopy(real)
    body["data"]["object"].update(amount=ESCROW_AMOUNT, amount_received=ESCROW_AMOUNT)

    await deliver(ctx, body)

    incident = await assert_nothing_moved(ctx, client_, victim["id"], body)
    assert f"its amount is 50, not {ESCROW_AMOUNT}" in incident["error"]
    details = incident["details"]
    assert details["claimed"]["amount"] == ESCROW_AMOUNT
    assert details["provider"]["amount"] == 50
    assert details["recorded"]["amount"] == ESCROW_AMOUNT
    assert details["recorded"]["escrow"] == victim["id"]


async def test_a_payment_in_another_currency_funds_nothing(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    victim = await create_escrow(ctx, client_, [(worker, ESCROW_AMOUNT)])
    payment_id = await real_payment(
        ctx, amount=ESCROW_AMOUNT, currency="jpy", escrow_id=victim["id"]
    )
    (body,) = [
        e for e in await captured_events(ctx, payment_id) if e["type"] == "payment_intent.succeeded"
    ]

    await deliver(ctx, body)

    incident = await assert_nothing_moved(ctx, client_, victim["id"], body)
    assert "its currency is jpy, not usd" in incident["error"]
    assert incident["details"]["provider"]["currency"] == "jpy"


async def test_a_connected_accounts_payment_funds_nothing(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    victim = await create_escrow(ctx, client_, [(worker, ESCROW_AMOUNT)])
    # What a payee's own connected-account endpoint would deliver for a charge of its own.
    payment = {
        "id": f"pi_{ULID()}",
        "object": "payment_intent",
        "amount": 100,
        "amount_capturable": 0,
        "amount_received": 100,
        "capture_method": "automatic",
        "currency": "usd",
        "customer": None,
        "latest_charge": f"ch_{ULID()}",
        "metadata": {"escrow_id": victim["id"]},
        "status": "succeeded",
        "created": unix(ctx.container.clock.now()),
    }
    body = event_about(payment, "payment_intent.succeeded", account=f"acct_{ULID()}")

    await deliver(ctx, body)

    incident = await assert_nothing_moved(ctx, client_, victim["id"], body)
    assert "connected account" in incident["error"]
    assert incident["details"]["event"]["account"] == body["account"]


async def test_a_forged_cancellation_does_not_expire_an_authorized_escrow(ctx: Ctx) -> None:
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(worker, 4000)], capture_mode="authorize")
    assert escrow["status"] == "authorized"
    payment = escrow["payment"]["id"]
    lie = {
        "id": payment,
        "object": "payment_intent",
        "amount": 4000,
        "currency": "usd",
        "capture_method": "manual",
        "status": "canceled",
        "cancellation_reason": "automatic",
        "metadata": {"escrow_id": escrow["id"]},
        "created": unix(ctx.container.clock.now()),
    }
    body = event_about(lie, "payment_intent.canceled")

    await deliver(ctx, body)

    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "authorized"
    assert await stored_status(ctx, body["id"]) == "rejected"
    (incident,) = await mismatch_incidents(ctx, body["id"])
    assert incident["details"]["provider"]["status"] == "requires_capture"
    # The authorization is still good: capturing it works.
    captured = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/capture")
    assert captured["status"] == "held"


async def test_a_forged_reversal_takes_nothing_back_from_the_payee(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    done = await released_to_one_payee(ctx, sandbox)
    client_, worker, escrow, transfer = done.payer, done.payee, done.escrow, done.transfer
    available = done.available
    lie = dict(transfer, amount_reversed=transfer["amount"], reversed=True)
    body = event_about(lie, "transfer.reversed")

    await deliver(ctx, body)

    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "released"
    assert after["amount_released"] == 3000
    assert await ledger_balance(ctx, payee_available(worker)) == available
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 0
    (incident,) = await mismatch_incidents(ctx, body["id"])
    assert incident["details"]["provider"]["amount_reversed"] == 0
    assert incident["details"]["claimed"]["amount_reversed"] == transfer["amount"]


async def test_the_real_event_of_a_payment_made_at_the_provider_still_funds(ctx: Ctx) -> None:
    """The checks do not get in the way of the truth: a payment the escrow's payer made at the
    provider directly, of the right amount, is adopted from its event alone."""
    client_ = await payer(ctx)
    (worker,) = await payees(ctx, 1)
    escrow = await create_escrow(ctx, client_, [(worker, 2500)], capture_mode="authorize")
    payment_id = await real_payment(
        ctx, amount=2500, currency="usd", escrow_id=escrow["id"], capture=False
    )
    await provider_of(ctx).capture_payment(
        CaptureRequest(idempotency_key=f"test:{ULID()}", payment_id=payment_id)
    )
    (body,) = [
        e for e in await captured_events(ctx, payment_id) if e["type"] == "payment_intent.succeeded"
    ]

    await deliver(ctx, body)

    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "held"
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 2500
    assert await stored_status(ctx, body["id"]) == "processed"
    assert await mismatch_incidents(ctx, body["id"]) == []
