"""Provider events drive escrows, and order or repetition never changes where they end up.

The sandbox's own events (signed as Stripe signs them) are captured and delivered to
``/v1/webhooks/stripe`` by hand: each one 1 to 5 times (a repeat is the same event under a new
id, so it passes the endpoint's dedupe and reaches the handlers again), in shuffled order, each
processed before the next arrives.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from ulid import ULID

from escrowd.clock import unix
from escrowd.config import SANDBOX_WEBHOOK_SECRET
from escrowd.escrows.ledgering import escrow_account, payee_available
from escrowd.providers.base import PaymentProvider
from escrowd.providers.stripe.signature import sign
from escrowd.providers.types import (
    CaptureRequest,
    PaymentRequest,
    TransferReversalRequest,
)
from escrowd.sandbox.stripe.app import deliver_pending
from escrowd.webhooks.inbound import process_pending
from tests.escrows.conftest import (
    Ctx,
    Person,
    Sandbox,
    create_escrow,
    event_types,
    funded,
    get,
    ledger_balance,
    payees,
    payer,
    post,
)

pytestmark = pytest.mark.stripe_only(
    "Stripe's event shapes; PayPal's events in any order are tests/paypal/test_paypal_events.py's"
)

Body = dict[str, Any]


async def captured_events(ctx: Ctx, *object_ids: str) -> list[Body]:
    """The sandbox's pending events about these objects, in the order it made them."""
    bodies: list[Body] = []

    async def keep(path: str, body: bytes, headers: dict[str, str]) -> int:
        bodies.append(json.loads(body))
        return 200

    while await deliver_pending(ctx.container, send=keep):
        pass
    return [
        b
        for b in bodies
        if {b["data"]["object"].get("id"), b["data"]["object"].get("payment_intent")}
        & set(object_ids)
    ]


async def deliver(ctx: Ctx, body: Body, repeat: int) -> None:
    event = dict(body, id=body["id"] if repeat == 0 else f"{body['id']}_again{repeat}")
    raw = json.dumps(event).encode()
    signature = sign(raw, SANDBOX_WEBHOOK_SECRET, unix(ctx.container.clock.now()))
    r = await ctx.client.post(
        "/v1/webhooks/stripe",
        content=raw,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert r.status_code == 200, r.text
    await process_pending(ctx.container)


async def paid_by_events_only(ctx: Ctx, who: Any, payee: str) -> tuple[str, list[Body]]:
    """An escrow whose payment is made at the provider directly: only events can tell it.

    3-D Secure is asked for and failed, then another card is authorized and captured.
    """
    provider = ctx.container.provider
    assert isinstance(provider, PaymentProvider)
    escrow = await create_escrow(ctx, who, [(payee, 2500)], capture_mode="authorize")
    key = f"test:{ULID()}"
    pending = await provider.create_payment(
        PaymentRequest(
            idempotency_key=f"{key}:pay",
            amount=2500,
            currency="usd",
            capture_method="manual",
            payment_method="pm_card_threeDSecureRequired",
            confirm=True,
            return_url="https://m.test/back",
            transfer_group=escrow["id"],
            metadata={"escrow_id": escrow["id"]},
        )
    )
    assert pending.next_action_url
    page = httpx.URL(pending.next_action_url)
    await ctx.client.post(
        page.raw_path.decode(), data={"token": page.params["token"], "outcome": "fail"}
    )
    await provider.confirm_payment(
        payment_id=pending.id, idempotency_key=f"{key}:confirm", payment_method="pm_card_visa"
    )
    await provider.capture_payment(
        CaptureRequest(idempotency_key=f"{key}:cap", payment_id=pending.id)
    )
    events = await captured_events(ctx, pending.id)
    kinds = {e["type"] for e in events}
    assert {
        "payment_intent.requires_action",
        "payment_intent.payment_failed",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
    } <= kinds, kinds
    return escrow["id"], events


async def test_payment_events_in_any_order_any_number_of_times_end_where_in_order_ends(
    ctx: Ctx, db_url: str
) -> None:
    client_ = await payer(ctx)
    (tester,) = await payees(ctx, 1)
    in_order, events = await paid_by_events_only(ctx, client_, tester)
    for body in events:
        await deliver(ctx, body, 0)
    shuffled, other_events = await paid_by_events_only(ctx, client_, tester)
    rng = random.Random(f"escrow-webhooks-{db_url[:8]}")
    deliveries = [(b, n) for b in other_events for n in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)
    for body, n in deliveries:
        await deliver(ctx, body, n)

    expected = await get(ctx, client_, in_order)
    got = await get(ctx, client_, shuffled)
    assert expected["status"] == got["status"] == "held"
    assert expected["amount_held"] == got["amount_held"] == 2500
    for escrow_id in (in_order, shuffled):
        assert await ledger_balance(ctx, escrow_account(escrow_id)) == 2500
    # Released normally afterwards: the money was recorded once.
    released = await post(ctx, client_, f"/v1/escrows/{shuffled}/release")
    assert released["status"] == "released"


@dataclass
class Released:
    """An escrow of 30.00 released to one payee (10 % fee): its one transfer of 27.00."""

    payer: Person
    payee: str
    escrow: Body
    transfer: Body
    #: The payee's available balance right after the release.
    available: int


async def released_to_one_payee(ctx: Ctx, sandbox: Sandbox) -> Released:
    client_ = await payer(ctx)
    (payee,) = await payees(ctx, 1)
    escrow = await funded(ctx, client_, [(payee, 3000)], fee_policy={"rate_bps": 1000})
    released = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/release")
    assert released["status"] == "released"
    (transfer,) = await sandbox.transfers(escrow["id"])
    assert transfer["amount"] == 2700
    available = await ledger_balance(ctx, payee_available(payee))
    return Released(client_, payee, escrow, transfer, available)


async def test_transfer_reversals_put_the_payees_money_back_once_whatever_the_order(
    ctx: Ctx, sandbox: Sandbox
) -> None:
    done = await released_to_one_payee(ctx, sandbox)
    client_, tester, escrow, transfer = done.payer, done.payee, done.escrow, done.transfer
    available = done.available
    provider = ctx.container.provider
    assert isinstance(provider, PaymentProvider)
    for amount in (500, 300):
        await provider.reverse_transfer(
            TransferReversalRequest(
                idempotency_key=f"test:{ULID()}", transfer_id=transfer["id"], amount=amount
            )
        )
    events = [
        e for e in await captured_events(ctx, transfer["id"]) if e["type"] == "transfer.reversed"
    ]
    assert [e["data"]["object"]["amount_reversed"] for e in events] == [500, 800]
    rng = random.Random(7)
    deliveries = [(b, n) for b in events for n in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)
    for body, n in deliveries:
        await deliver(ctx, body, n)

    after = await get(ctx, client_, escrow["id"])
    assert after["status"] == "partially_released"
    assert after["amount_released"] == 2200
    assert after["allocations"][0]["net_released"] == 1900
    assert await ledger_balance(ctx, escrow_account(escrow["id"])) == 800
    assert await ledger_balance(ctx, payee_available(tester)) == available - 800
    allocation_id = after["allocations"][0]["id"]
    reversals = await event_types(ctx, client_, allocation_id)
    # Events are hints: the first one to arrive makes escrowd read the transfer at the provider,
    # which already shows both reversals (800), and books them at once; every later delivery
    # finds nothing new. So one booking, never one per delivery.
    assert reversals.count("allocation.reversed") == 1
    # The money that came back is the payer's again (as when a dispute is lost).
    refunded = await post(ctx, client_, f"/v1/escrows/{escrow['id']}/refund")
    assert (refunded["status"], refunded["amount_refunded"]) == ("released", 800)
    assert [r["amount"] for r in await sandbox.refunds(escrow["payment"]["id"])] == [800]
