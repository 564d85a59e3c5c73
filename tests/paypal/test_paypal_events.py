"""What escrowd does with PayPal's events, end to end against escrowd's PayPal sandbox.

Events are the sandbox's own, signed as PayPal signs and delivered to ``/v1/webhooks/paypal``;
each one escrowd acts on is checked against PayPal's objects first. The "lying" cases post an
event that is correctly signed (a leaked key, a compromised relay) but whose body says what
PayPal's objects do not: nothing moves, the event is rejected and an incident opens.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from escrowd.clock import FrozenClock
from escrowd.config import PAYPAL_SANDBOX_PREFIX
from escrowd.escrows.ledgering import PROCESSING_COSTS, clearing, escrow_account
from escrowd.escrows.models import Operation, OpKind
from escrowd.escrows.outside_refund import UNBOOKED_INCIDENT
from escrowd.jobs.models import Incident
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.providers.paypal.provider import PayPalProvider
from escrowd.sandbox.paypal import orders as sandbox_orders
from escrowd.sandbox.paypal import webhooks as sandbox_webhooks
from escrowd.sandbox.paypal.store import Unit
from escrowd.webhooks.models import InboundWebhookEvent, WebhookStatus
from escrowd.webhooks.verification import MISMATCH_INCIDENT
from tests.balances.conftest import balance_of
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    create_escrow,
    get,
    keyed,
    ledger_balance,
    payer,
    person,
    post,
    quiet,
    run_jobs,
    settle,
    sweep,
)
from tests.escrows.conftest import ctx as ctx
from tests.integration.conftest import make_user

URL = "/v1/webhooks/paypal"
PAYPAL_CLEARING = clearing("paypal")


async def worker(ctx: Ctx) -> Person:
    return person(ctx, await make_user(ctx.container, role="worker"))


def paypal_of(ctx: Ctx) -> PayPalProvider:
    provider = ctx.container.provider_named("paypal")
    assert isinstance(provider, PayPalProvider)
    return provider


async def approve(ctx: Ctx, escrow: dict[str, Any], funding: str = "balance") -> str:
    """The payer approves the escrow's order on the hosted page with ``funding``."""
    url = httpx.URL(escrow["next_action"]["url"])
    order_id = url.params["token"]
    done = await ctx.client.post(
        f"{PAYPAL_SANDBOX_PREFIX}/checkoutnow/{order_id}",
        data={"action": "approve", "funding": funding},
    )
    assert done.status_code == 200, done.text
    return order_id


async def started(ctx: Ctx, who: Person, payee: Person, amount: int, **body: Any) -> dict[str, Any]:
    created = await create_escrow(
        ctx,
        who,
        [(payee.id, amount)],
        payment_provider="paypal",
        fee_policy={"rate_bps": 0},
        **body,
    )
    out = await post(ctx, who, f"/v1/escrows/{created['id']}/fund")
    assert out["status"] == "requires_action", out
    return out


async def confirmed(
    ctx: Ctx, who: Person, payee: Person, amount: int, funding: str = "balance", **body: Any
) -> dict[str, Any]:
    """Approved with ``funding`` and confirmed by the payer's second fund call."""
    first = await started(ctx, who, payee, amount, **body)
    await approve(ctx, first, funding)
    return await post(ctx, who, f"/v1/escrows/{first['id']}/fund")


async def queued(ctx: Ctx) -> list[dict[str, Any]]:
    """The sandbox's queued PayPal events, taken instead of delivered (bodies only)."""
    seen: list[dict[str, Any]] = []

    async def take(path: str, body: bytes, headers: dict[str, str]) -> int:
        seen.append(json.loads(body))
        return 200

    while await sandbox_webhooks.deliver(ctx.container, send=take):
        pass
    return seen


def one(events: list[dict[str, Any]], event_type: str, about: str) -> dict[str, Any]:
    """The one event of ``event_type`` whose resource mentions ``about`` (an order, a
    capture, a payout item id): other tests' events may be queued too."""
    found = [e for e in events if e["event_type"] == event_type and about in json.dumps(e)]
    assert len(found) == 1, [e["event_type"] for e in events]
    return found[0]


async def post_signed(ctx: Ctx, envelope: dict[str, Any]) -> str:
    """Post ``envelope`` as a genuine, correctly signed PayPal delivery; its event id."""
    envelope = {**envelope, "id": sandbox_webhooks.event_id()}
    body = json.dumps(envelope).encode()
    _cert, key = await sandbox_webhooks.credentials(ctx.container)
    headers = sandbox_webhooks.sign_headers(
        body,
        key_pem=key,
        url=sandbox_webhooks.cert_url(ctx.container),
        now=ctx.container.clock.now(),
    )
    r = await ctx.client.post(URL, content=body, headers=headers)
    assert r.status_code == 200, r.text
    return str(envelope["id"])


async def webhook_status(ctx: Ctx, event_id: str) -> str:
    async with ctx.container.db.transaction() as s:
        row = (
            await s.scalars(
                select(InboundWebhookEvent).where(
                    InboundWebhookEvent.provider == "paypal",
                    InboundWebhookEvent.event_id == event_id,
                )
            )
        ).one()
        return row.status


async def incidents_about(ctx: Ctx, kind: str, subject: str) -> list[Incident]:
    async with ctx.container.db.transaction() as s:
        q = select(Incident).where(Incident.kind == kind, Incident.subject == subject)
        return list((await s.scalars(q)).all())


async def sandbox_unit_do(ctx: Ctx, capture_id: str, *, completed: bool) -> None:
    """PayPal settles a pending eCheck capture (the sandbox's stand-in for days passing)."""
    base = ctx.container.settings.public_url.rstrip("/") + PAYPAL_SANDBOX_PREFIX
    async with ctx.container.db.engine.begin() as conn:
        u = await Unit.open(conn, ctx.container, base)
        await sandbox_orders.settle_pending_capture(u, capture_id, completed=completed)


async def capture_of(ctx: Ctx, order_id: str) -> shapes.Capture:
    order = await paypal_of(ctx).client.get_order(order_id)
    assert order.purchase_units[0].payments is not None
    return order.purchase_units[0].payments.captures[-1]


async def refund_ops(ctx: Ctx, escrow_id: str) -> list[Operation]:
    async with ctx.container.db.transaction() as s:
        q = select(Operation).where(
            Operation.escrow_id == escrow_id, Operation.kind == OpKind.refund.value
        )
        return list((await s.scalars(q)).all())


# --- the fee --------------------------------------------------------------------------------


def test_the_sandbox_fee_is_3_49_percent_plus_a_fixed_fee() -> None:
    assert sandbox_orders.paypal_fee(10_000, "usd") == 349 + 49
    assert sandbox_orders.paypal_fee(12_345, "usd") == 431 + 49  # 430.84 rounds up
    assert sandbox_orders.paypal_fee(100, "usd") == 3 + 49  # 3.49 rounds to 3
    assert sandbox_orders.paypal_fee(1_000, "usd") == 35 + 49  # 34.9 rounds to 35
    assert sandbox_orders.paypal_fee(10_000, "eur") == 349 + 39
    assert sandbox_orders.paypal_fee(30, "usd") == 30  # never more than the capture


# --- PAYMENT.CAPTURE.COMPLETED / DENIED -------------------------------------------------------


async def test_a_pending_capture_that_completes_funds_the_escrow_with_paypal_s_fee(
    ctx: Ctx,
) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    waiting = await confirmed(ctx, who, payee, 10_000, funding="echeck")
    escrow_id, order_id = waiting["id"], waiting["payment"]["id"]
    capture = await capture_of(ctx, order_id)
    assert (capture.status, capture.seller_receivable_breakdown) == ("PENDING", None)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    still = await get(ctx, who, escrow_id)
    assert still["status"] == "requires_action", still
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    await quiet(ctx.container)  # earlier tests' leftovers are booked first
    costs_before = await ledger_balance(ctx, PROCESSING_COSTS)

    await sandbox_unit_do(ctx, capture.id, completed=True)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    held = await get(ctx, who, escrow_id)
    assert (held["status"], held["amount_held"]) == ("held", 10_000), held
    assert held["payment"]["processing_fee"] == 398  # 3.49 % of 100.00 + 0.49
    assert held["payment"]["charge"] == capture.id
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 10_000
    assert await ledger_balance(ctx, PROCESSING_COSTS) == costs_before - 398
    # The same event again (PayPal redelivers) changes nothing more.
    await settle(ctx.container)
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 10_000
    assert await ledger_balance(ctx, PROCESSING_COSTS) == costs_before - 398


async def test_a_pending_capture_that_is_denied_sends_the_escrow_back_to_requires_payment(
    ctx: Ctx,
) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    waiting = await confirmed(ctx, who, payee, 4_200, funding="echeck")
    escrow_id = waiting["id"]
    capture = await capture_of(ctx, waiting["payment"]["id"])
    await settle(ctx.container)
    await sandbox_unit_do(ctx, capture.id, completed=False)
    await settle(ctx.container)
    failed = await get(ctx, who, escrow_id)
    assert failed["status"] == "requires_payment", failed
    assert failed["last_payment_error"]["code"] == "capture_declined"
    assert failed["next_action"] is None
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0


async def test_a_signed_completed_event_for_a_capture_still_pending_at_paypal_moves_nothing(
    ctx: Ctx,
) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    waiting = await confirmed(ctx, who, payee, 7_700, funding="echeck")
    escrow_id = waiting["id"]
    pending = one(await queued(ctx), "PAYMENT.CAPTURE.PENDING", waiting["payment"]["id"])
    lie = {
        **pending,
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {**pending["resource"], "status": "COMPLETED"},
    }
    lie["resource"].pop("status_details", None)
    event_id = await post_signed(ctx, lie)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.rejected.value
    after = await get(ctx, who, escrow_id)
    assert after["status"] == "requires_action", after
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0
    (incident,) = await incidents_about(ctx, MISMATCH_INCIDENT, f"webhook:paypal:{event_id}")
    assert "PENDING" in incident.error
    assert incident.details is not None
    assert incident.details["claimed"]["status"] == "COMPLETED"
    assert incident.details["provider"]["status"] == "PENDING"


async def test_a_capture_event_naming_another_escrow_s_order_moves_neither(ctx: Ctx) -> None:
    """The event's body says capture X belongs to escrow A's order; PayPal says X is B's."""
    who, payee = await payer(ctx), await worker(ctx)
    victim = await confirmed(ctx, who, payee, 5_000, funding="echeck")
    other = await confirmed(ctx, who, payee, 5_000)
    assert other["status"] == "held"
    completed = [e for e in await queued(ctx) if e["event_type"] == "PAYMENT.CAPTURE.COMPLETED"]
    genuine = next(
        e
        for e in completed
        if e["resource"]["supplementary_data"]["related_ids"]["order_id"] == other["payment"]["id"]
    )
    resource = json.loads(json.dumps(genuine["resource"]))
    resource["supplementary_data"]["related_ids"]["order_id"] = victim["payment"]["id"]
    event_id = await post_signed(ctx, {**genuine, "resource": resource})
    await settle(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.rejected.value
    assert (await get(ctx, who, victim["id"]))["status"] == "requires_action"
    assert await ledger_balance(ctx, escrow_account(victim["id"])) == 0
    (incident,) = await incidents_about(ctx, MISMATCH_INCIDENT, f"webhook:paypal:{event_id}")
    assert other["payment"]["id"] in incident.error


# --- PAYMENT.AUTHORIZATION.VOIDED -----------------------------------------------------------


async def test_an_authorization_voided_outside_escrowd_expires_the_escrow(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await confirmed(ctx, who, payee, 3_000, capture_mode="authorize")
    assert authorized["status"] == "authorized", authorized
    escrow_id = authorized["id"]
    await settle(ctx.container)
    order = await paypal_of(ctx).client.get_order(authorized["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    auth = order.purchase_units[0].payments.authorizations[0]
    # Voided from PayPal's dashboard (or by another tool), not by escrowd.
    await paypal_of(ctx).client.void_authorization(auth.id, request_id=f"dash-{auth.id}")
    await settle(ctx.container)
    await run_jobs(ctx.container)  # the void job finds it voided already
    expired = await get(ctx, who, escrow_id)
    assert expired["status"] == "expired", expired
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0


async def test_a_signed_voided_event_for_a_live_authorization_moves_nothing(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await confirmed(ctx, who, payee, 3_100, capture_mode="authorize")
    created = one(await queued(ctx), "PAYMENT.AUTHORIZATION.CREATED", authorized["payment"]["id"])
    lie = {
        **created,
        "event_type": "PAYMENT.AUTHORIZATION.VOIDED",
        "resource": {**created["resource"], "status": "VOIDED"},
    }
    event_id = await post_signed(ctx, lie)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.rejected.value
    still = await get(ctx, who, authorized["id"])
    assert still["status"] == "authorized", still
    order = await paypal_of(ctx).client.get_order(authorized["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    assert order.purchase_units[0].payments.authorizations[0].status == "CREATED"
    # escrowd can still capture it: nothing was voided on the event's word.
    captured = await post(ctx, who, f"/v1/escrows/{authorized['id']}/capture")
    assert captured["status"] == "held"


# --- PAYMENT.CAPTURE.REFUNDED ---------------------------------------------------------------


async def test_a_refund_made_outside_escrowd_is_booked_once(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    held = await confirmed(ctx, who, payee, 10_000)
    assert held["status"] == "held", held
    escrow_id = held["id"]
    await settle(ctx.container)
    capture = await capture_of(ctx, held["payment"]["id"])
    clearing_before = await ledger_balance(ctx, PAYPAL_CLEARING)
    # From PayPal's dashboard: 25.00 back to the payer.
    refund = await paypal_of(ctx).client.refund_capture(
        capture.id, shapes.RefundRequest(amount=money(2_500, "usd")), request_id="dash-refund-1"
    )
    events = await queued(ctx)
    genuine = one(events, "PAYMENT.CAPTURE.REFUNDED", refund.id)
    first = await post_signed(ctx, genuine)
    again = await post_signed(ctx, genuine)  # PayPal resends it under another id
    await settle(ctx.container)
    await run_jobs(ctx.container)
    await settle(ctx.container)
    await run_jobs(ctx.container)
    assert await webhook_status(ctx, first) == WebhookStatus.processed.value
    assert await webhook_status(ctx, again) == WebhookStatus.processed.value
    after = await get(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 2_500), after
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 7_500
    assert await ledger_balance(ctx, PAYPAL_CLEARING) == clearing_before + 2_500
    (op,) = await refund_ops(ctx, escrow_id)
    assert (op.status, op.provider_object_id, op.provider_amount) == (
        "succeeded",
        refund.id,
        2_500,
    )
    assert op.params["outside_refund"] == refund.id
    # Only the one refund exists at PayPal: booking it made no second refund.
    after_capture = await paypal_of(ctx).client.get_capture(capture.id)
    assert after_capture.status == "PARTIALLY_REFUNDED"
    # The rest can still be refunded through escrowd, to the cent.
    rest = await post(ctx, who, f"/v1/escrows/{escrow_id}/refund")
    assert (rest["status"], rest["amount_refunded"]) == ("refunded", 10_000)
    assert (await paypal_of(ctx).client.get_capture(capture.id)).status == "REFUNDED"


async def test_escrowd_s_own_refund_event_is_not_booked_twice(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    held = await confirmed(ctx, who, payee, 6_000)
    escrow_id = held["id"]
    refunded = await post(ctx, who, f"/v1/escrows/{escrow_id}/refund", {"amount": 1_000})
    assert refunded["amount_refunded"] == 1_000
    await settle(ctx.container)
    await run_jobs(ctx.container)
    after = await get(ctx, who, escrow_id)
    assert after["amount_refunded"] == 1_000
    assert len(await refund_ops(ctx, escrow_id)) == 1
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 5_000


async def test_a_refund_outside_escrowd_after_release_opens_an_incident(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    held = await confirmed(ctx, who, payee, 8_000)
    escrow_id = held["id"]
    released = await post(ctx, who, f"/v1/escrows/{escrow_id}/release")
    assert released["status"] == "released"
    await settle(ctx.container)
    capture = await capture_of(ctx, held["payment"]["id"])
    refund = await paypal_of(ctx).client.refund_capture(
        capture.id, shapes.RefundRequest(amount=money(3_000, "usd")), request_id="dash-refund-2"
    )
    await settle(ctx.container)
    await run_jobs(ctx.container)
    after = await get(ctx, who, escrow_id)
    assert (after["status"], after["amount_refunded"]) == ("released", 0), after
    assert await refund_ops(ctx, escrow_id) == []
    (incident,) = await incidents_about(ctx, UNBOOKED_INCIDENT, f"refund:paypal:{refund.id}")
    assert "released" in incident.error
    assert incident.details is not None
    assert incident.details["provider"]["amount"] == 3_000


async def test_a_signed_refund_event_for_another_capture_books_nothing(ctx: Ctx) -> None:
    """The event's body says refund R refunds escrow A's capture; PayPal says R is B's."""
    who, payee = await payer(ctx), await worker(ctx)
    victim = await confirmed(ctx, who, payee, 9_000)
    other = await confirmed(ctx, who, payee, 9_000)
    await settle(ctx.container)
    victim_capture = await capture_of(ctx, victim["payment"]["id"])
    other_capture = await capture_of(ctx, other["payment"]["id"])
    made = await paypal_of(ctx).client.refund_capture(
        other_capture.id, shapes.RefundRequest(amount=money(100, "usd")), request_id="dash-3"
    )
    genuine = one(await queued(ctx), "PAYMENT.CAPTURE.REFUNDED", made.id)
    resource = json.loads(json.dumps(genuine["resource"]))
    for link in resource["links"]:
        if link["rel"] == "up":
            link["href"] = link["href"].replace(other_capture.id, victim_capture.id)
    event_id = await post_signed(ctx, {**genuine, "resource": resource})
    await settle(ctx.container)
    await run_jobs(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.rejected.value
    assert (await get(ctx, who, victim["id"]))["amount_refunded"] == 0
    assert await refund_ops(ctx, victim["id"]) == []
    assert await ledger_balance(ctx, escrow_account(victim["id"])) == 9_000


# --- PAYMENT.PAYOUTS-ITEM.* ----------------------------------------------------------------


async def paypal_payout(ctx: Ctx, amount: int, email: str) -> tuple[Person, dict[str, Any]]:
    """A payee paid ``amount`` from a released escrow, paid out to ``email``, approved."""
    who, payee = await payer(ctx), await worker(ctx)
    held = await confirmed(ctx, who, payee, amount)
    released = await post(ctx, who, f"/v1/escrows/{held['id']}/release")
    assert released["status"] == "released", released
    saved = await ctx.client.post(
        "/v1/payout_destination", json={"paypal_email": email}, headers=payee.headers
    )
    assert saved.status_code == 200, saved.text
    payout = await post(
        ctx, payee, "/v1/payouts", {"amount": amount, "currency": "usd", "provider": "paypal"}
    )
    admin = await api_key_headers(ctx)
    r = await ctx.client.post(f"/v1/payouts/{payout['id']}/approve", json={}, headers=keyed(admin))
    assert r.status_code == 200, r.text
    return payee, r.json()


async def payout_of(ctx: Ctx, who: Person, payout_id: str) -> dict[str, Any]:
    r = await ctx.client.get(f"/v1/payouts/{payout_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def available(ctx: Ctx, who: Person) -> int:
    return int((await balance_of(ctx, who))["available"].get("usd", 0))


async def test_an_unclaimed_payout_item_returned_by_paypal_fails_the_payout(
    ctx: Ctx, clock: FrozenClock
) -> None:
    payee, payout = await paypal_payout(ctx, 4_321, "payee+unclaimed@example.com")
    assert payout["status"] == "in_transit", payout
    assert await available(ctx, payee) == 0
    await settle(ctx.container)  # PAYMENT.PAYOUTS-ITEM.UNCLAIMED: nothing more to do
    assert (await payout_of(ctx, payee, payout["id"]))["status"] == "in_transit"
    clock.advance(timedelta(days=31))
    item = await paypal_of(ctx).client.get_payout_item(payout["provider_payout"])
    assert item.transaction_status == "RETURNED"  # PayPal sends PAYMENT.PAYOUTS-ITEM.RETURNED
    await settle(ctx.container)
    failed = await payout_of(ctx, payee, payout["id"])
    assert failed["status"] == "failed", failed
    assert failed["failure_code"] == "returned"
    # The money is the payee's again, to pay out elsewhere.
    assert await available(ctx, payee) == 4_321


async def test_a_signed_succeeded_event_for_an_unclaimed_item_pays_nothing(ctx: Ctx) -> None:
    payee, payout = await paypal_payout(ctx, 1_234, "payee+unclaimed@example.com")
    unclaimed = one(await queued(ctx), "PAYMENT.PAYOUTS-ITEM.UNCLAIMED", payout["provider_payout"])
    lie = {
        **unclaimed,
        "event_type": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
        "resource": {**unclaimed["resource"], "transaction_status": "SUCCESS"},
    }
    event_id = await post_signed(ctx, lie)
    await settle(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.processed.value
    still = await payout_of(ctx, payee, payout["id"])
    assert still["status"] == "in_transit", still
