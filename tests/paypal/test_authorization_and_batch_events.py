"""PayPal's ``PAYMENT.AUTHORIZATION.CREATED`` and ``PAYMENT.PAYOUTSBATCH.*``, end to end.

Each acts only on what PayPal's own objects say (the authorization and its order; the batch
and its item). The cases here: escrowd's own call reached PayPal but failed on the way back,
so only the event tells escrowd what happened; the same event twice and events in another
order than they were made; and correctly signed events that lie (nothing moves, the event
is rejected, an incident opens).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from escrowd.clock import FrozenClock
from escrowd.escrows.ledgering import escrow_account, payee_available
from escrowd.ledger.models import LedgerTransfer
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.provider import PayPalProvider
from escrowd.providers.types import Payment
from escrowd.webhooks.models import WebhookStatus
from escrowd.webhooks.verification import MISMATCH_INCIDENT
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    Person,
    _ledger_verified_after_module,
    _stripe_spec,
    api_key_headers,
    browser,
    client,
    container,
    event_types,
    get,
    keyed,
    ledger_balance,
    payer,
    post,
    provider_switch,
    run_jobs,
    settle,
)
from tests.escrows.conftest import ctx as ctx
from tests.escrows.test_crash import recover
from tests.payouts.test_retries import run_send_jobs
from tests.paypal.test_paypal_events import (
    approve,
    available,
    confirmed,
    incidents_about,
    one,
    payout_of,
    post_signed,
    queued,
    started,
    webhook_status,
    worker,
)


def paypal_of(ctx: Ctx) -> PayPalProvider:
    """PayPal's provider itself (these tests put it behind a switch to lose its answers)."""
    target = provider_switch(ctx, "paypal").target
    assert isinstance(target, PayPalProvider), target
    return target


class AnswerLost:
    """PayPal's provider, except that ``method`` reaches PayPal and then fails on the way
    back as ``error`` (PayPal did it; escrowd does not know)."""

    def __init__(self, target: PaymentProvider, method: str, error: ProviderError) -> None:
        self.target, self.method, self.error = target, method, error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.target, name)
        if name != self.method:
            return real

        async def lost(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            await real(*args, **kwargs)
            raise self.error

        return lost


# --- PAYMENT.AUTHORIZATION.CREATED -----------------------------------------------------------


async def authorized_behind_escrowds_back(ctx: Ctx, amount: int) -> tuple[Person, dict[str, Any]]:
    """An escrow whose order the payer approved and PayPal authorized, while escrowd's confirm
    call came back refused (a 429 from a gateway in front of PayPal): the escrow still waits
    in ``requires_action`` and nothing is in flight."""
    who, payee = await payer(ctx), await worker(ctx)
    first = await started(ctx, who, payee, amount, capture_mode="authorize")
    await approve(ctx, first)
    switch = provider_switch(ctx, "paypal")
    real = switch.target
    switch.target = AnswerLost(
        real,
        "confirm_payment",
        ProviderError(ProviderErrorKind.rate_limit, "Too many requests", provider="paypal"),
    )
    try:
        r = await ctx.client.post(
            f"/v1/escrows/{first['id']}/fund", json={}, headers=keyed(who.headers)
        )
    finally:
        switch.target = real
    assert r.status_code == 429, r.text
    waiting = await get(ctx, who, first["id"])
    assert (waiting["status"], waiting["pending_operations"]) == ("requires_action", [])
    order = await paypal_of(ctx).client.get_order(first["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    assert order.purchase_units[0].payments.authorizations[0].status == "CREATED"
    return who, waiting


async def authorization_holds(ctx: Ctx, escrow_id: str) -> list[int]:
    """The escrow's authorization holds in the ledger (a pending transfer each)."""
    async with ctx.container.db.transaction() as s:
        rows = await s.scalars(
            select(LedgerTransfer.amount).where(
                LedgerTransfer.reference == escrow_id,
                LedgerTransfer.category == "authorization",
            )
        )
        return list(rows)


async def test_an_authorization_escrowd_missed_is_recorded_once_whatever_the_order(
    ctx: Ctx,
) -> None:
    who, escrow = await authorized_behind_escrowds_back(ctx, 5_000)
    escrow_id, order_id = escrow["id"], escrow["payment"]["id"]
    events = await queued(ctx)
    approved = one(events, "CHECKOUT.ORDER.APPROVED", order_id)
    created = one(events, "PAYMENT.AUTHORIZATION.CREATED", order_id)
    # The authorization's event before the approval's, and twice (PayPal redelivers).
    first = await post_signed(ctx, created)
    await settle(ctx.container)
    authorized = await get(ctx, who, escrow_id)
    assert authorized["status"] == "authorized", authorized
    assert authorized["payment"]["capture_before"] is not None
    assert await authorization_holds(ctx, escrow_id) == [5_000]
    again = await post_signed(ctx, created)
    late = await post_signed(ctx, approved)
    await settle(ctx.container)
    await run_jobs(ctx.container)  # escrow.confirm_paypal finds it authorized: nothing to do
    for event_id in (first, again, late):
        assert await webhook_status(ctx, event_id) == WebhookStatus.processed.value
    assert await authorization_holds(ctx, escrow_id) == [5_000]
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 0  # a hold, not posted
    assert (await event_types(ctx, who, escrow_id)).count("escrow.authorized") == 1
    # The payer's own second call finds it authorized; escrowd captures it as its own.
    r = await ctx.client.post(f"/v1/escrows/{escrow_id}/fund", json={}, headers=keyed(who.headers))
    assert r.status_code == 409, r.text
    captured = await post(ctx, who, f"/v1/escrows/{escrow_id}/capture")
    assert (captured["status"], captured["amount_held"]) == ("held", 5_000), captured
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 5_000


async def test_an_authorization_event_while_escrowd_s_call_is_in_flight_waits_for_it(
    ctx: Ctx, clock: FrozenClock
) -> None:
    """escrowd's confirm reached PayPal and timed out on the way back: its operation is
    unknown, so the event is retried, not applied; the janitor learns the authorization from
    PayPal and records it, and the event's retry then finds it recorded."""
    who, payee = await payer(ctx), await worker(ctx)
    first = await started(ctx, who, payee, 3_900, capture_mode="authorize")
    await approve(ctx, first)
    switch = provider_switch(ctx, "paypal")
    real = switch.target
    timeout = ProviderError(ProviderErrorKind.unknown_outcome, "read timed out", provider="paypal")
    switch.target = AnswerLost(real, "confirm_payment", timeout)
    try:
        r = await ctx.client.post(
            f"/v1/escrows/{first['id']}/fund", json={}, headers=keyed(who.headers)
        )
    finally:
        switch.target = real
    assert r.status_code == 502, r.text
    created = one(await queued(ctx), "PAYMENT.AUTHORIZATION.CREATED", first["payment"]["id"])
    event_id = await post_signed(ctx, created)
    await settle(ctx.container)
    assert await webhook_status(ctx, event_id) == WebhookStatus.failed.value
    waiting = await get(ctx, who, first["id"])
    assert waiting["status"] == "requires_action", waiting
    assert [op["status"] for op in waiting["pending_operations"]] == ["unknown"]
    assert await authorization_holds(ctx, first["id"]) == []
    await recover(ctx, clock)  # the janitor, then the event's retry
    assert await webhook_status(ctx, event_id) == WebhookStatus.processed.value
    authorized = await get(ctx, who, first["id"])
    assert (authorized["status"], authorized["pending_operations"]) == ("authorized", [])
    assert await authorization_holds(ctx, first["id"]) == [3_900]
    assert (await event_types(ctx, who, first["id"])).count("escrow.authorized") == 1


async def test_escrowd_s_own_authorization_then_its_event_changes_nothing(ctx: Ctx) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await confirmed(ctx, who, payee, 2_200, capture_mode="authorize")
    assert authorized["status"] == "authorized", authorized
    created = one(await queued(ctx), "PAYMENT.AUTHORIZATION.CREATED", authorized["payment"]["id"])
    for _ in range(2):
        event_id = await post_signed(ctx, created)
        await settle(ctx.container)
        assert await webhook_status(ctx, event_id) == WebhookStatus.processed.value
    assert await authorization_holds(ctx, authorized["id"]) == [2_200]
    assert (await event_types(ctx, who, authorized["id"])).count("escrow.authorized") == 1


async def test_a_signed_authorization_event_naming_another_escrow_s_order_moves_nothing(
    ctx: Ctx,
) -> None:
    """The event says escrow A's order was authorized; PayPal says the authorization is B's."""
    who, payee = await payer(ctx), await worker(ctx)
    victim = await started(ctx, who, payee, 6_000, capture_mode="authorize")
    await approve(ctx, victim)
    other = await confirmed(ctx, who, payee, 6_000, capture_mode="authorize")
    genuine = one(await queued(ctx), "PAYMENT.AUTHORIZATION.CREATED", other["payment"]["id"])
    resource = json.loads(json.dumps(genuine["resource"]))
    resource["supplementary_data"]["related_ids"]["order_id"] = victim["payment"]["id"]
    lie = await post_signed(ctx, {**genuine, "resource": resource})
    # And one naming an authorization PayPal does not have.
    missing = json.loads(json.dumps(resource))
    missing["id"] = "0NOSUCHAUTH00000"
    ghost = await post_signed(ctx, {**genuine, "resource": missing})
    await settle(ctx.container)
    await run_jobs(ctx.container)
    for event_id, named in ((lie, other["payment"]["id"]), (ghost, "0NOSUCHAUTH00000")):
        assert await webhook_status(ctx, event_id) == WebhookStatus.rejected.value
        (incident,) = await incidents_about(ctx, MISMATCH_INCIDENT, f"webhook:paypal:{event_id}")
        assert named in incident.error
    still = await get(ctx, who, victim["id"])
    assert still["status"] == "requires_action", still
    assert await authorization_holds(ctx, victim["id"]) == []
    # PayPal's side is untouched too: the victim's order is approved, not authorized.
    payment = await paypal_of(ctx).retrieve_payment(victim["payment"]["id"])
    assert isinstance(payment, Payment)
    assert payment.status.value == "requires_confirmation"


# --- PAYMENT.PAYOUTSBATCH.* ------------------------------------------------------------------


async def approved_payout(
    ctx: Ctx, amount: int, email: str, *, answer_lost: bool = False
) -> tuple[Person, dict[str, Any]]:
    """A payee paid ``amount`` from a released PayPal escrow, paid out to ``email`` and
    approved; ``answer_lost``: PayPal made the batch, escrowd's call failed on the way back."""
    who, payee = await payer(ctx), await worker(ctx)
    held = await confirmed(ctx, who, payee, amount)
    await post(ctx, who, f"/v1/escrows/{held['id']}/release")
    saved = await ctx.client.post(
        "/v1/payout_destination", json={"paypal_email": email}, headers=payee.headers
    )
    assert saved.status_code == 200, saved.text
    payout = await post(
        ctx, payee, "/v1/payouts", {"amount": amount, "currency": "usd", "provider": "paypal"}
    )
    switch = provider_switch(ctx, "paypal")
    real = switch.target
    if answer_lost:
        lost = ProviderError(ProviderErrorKind.api, "connection reset by peer", provider="paypal")
        switch.target = AnswerLost(real, "create_payout", lost)
    admin = await api_key_headers(ctx)
    try:
        r = await ctx.client.post(
            f"/v1/payouts/{payout['id']}/approve", json={}, headers=keyed(admin)
        )
    finally:
        switch.target = real
    assert r.status_code == (502 if answer_lost else 200), r.text
    return payee, await payout_of(ctx, payee, payout["id"])


def batch_event(events: list[dict[str, Any]], payout_id: str) -> dict[str, Any]:
    """The sandbox's PAYMENT.PAYOUTSBATCH.PROCESSING for the payout's batch."""
    return one(events, "PAYMENT.PAYOUTSBATCH.PROCESSING", f"{payout_id}:payout")


def as_batch_status(event: dict[str, Any], status: str) -> dict[str, Any]:
    """The batch event PayPal sends when the batch is ``status`` (SUCCESS, DENIED…)."""
    resource = json.loads(json.dumps(event["resource"]))
    resource["batch_header"]["batch_status"] = status
    return {**event, "event_type": f"PAYMENT.PAYOUTSBATCH.{status}", "resource": resource}


async def test_a_batch_whose_answer_was_lost_pays_its_payout_from_the_batch_event(
    ctx: Ctx,
) -> None:
    payee, payout = await approved_payout(ctx, 3_300, "lost@example.com", answer_lost=True)
    assert (payout["status"], payout["provider_payout"]) == ("approved", None), payout
    events = await queued(ctx)
    batch = batch_event(events, payout["id"])
    item = one(
        events,
        "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
        batch["resource"]["batch_header"]["payout_batch_id"],
    )
    # The item's event first: escrowd knows no payout by that item id yet, so it waits.
    first = await post_signed(ctx, item)
    await settle(ctx.container)
    assert await webhook_status(ctx, first) == WebhookStatus.processed.value
    assert (await payout_of(ctx, payee, payout["id"]))["status"] == "approved"
    # The batch's event names the payout's key: PayPal's batch has the item, paid.
    done = await post_signed(ctx, as_batch_status(batch, "SUCCESS"))
    await settle(ctx.container)
    assert await webhook_status(ctx, done) == WebhookStatus.processed.value
    paid = await payout_of(ctx, payee, payout["id"])
    assert (paid["status"], paid["provider_payout"]) == ("paid", item["resource"]["payout_item_id"])
    assert await available(ctx, payee) == 0
    assert await ledger_balance(ctx, payee_available(payee.id)) == 0
    # Again, in any order: the processing event late, the item's and the batch's again.
    for event in (batch, item, as_batch_status(batch, "SUCCESS")):
        await post_signed(ctx, event)
    await settle(ctx.container)
    await run_send_jobs(ctx)  # the approval's retry finds it paid: no second batch
    assert (await payout_of(ctx, payee, payout["id"]))["status"] == "paid"
    assert await available(ctx, payee) == 0
    assert await paid_out(ctx, payout["id"]) == [3_300]


async def paid_out(ctx: Ctx, payout_id: str) -> list[int]:
    """The payout's ``payout_sent`` ledger transfers (money out to PayPal): one when paid."""
    async with ctx.container.db.transaction() as s:
        rows = await s.scalars(
            select(LedgerTransfer.amount).where(
                LedgerTransfer.id == f"{payout_id}:sent", LedgerTransfer.category == "payout_sent"
            )
        )
        return list(rows)


async def test_a_batch_event_after_paypal_returned_the_unclaimed_item_fails_the_payout_once(
    ctx: Ctx, clock: FrozenClock
) -> None:
    payee, payout = await approved_payout(ctx, 2_100, "payee+unclaimed@example.com")
    assert payout["status"] == "in_transit", payout
    batch = batch_event(await queued(ctx), payout["id"])
    # While the item waits to be claimed, a SUCCESS batch (PayPal processed it) pays nothing.
    early = await post_signed(ctx, as_batch_status(batch, "SUCCESS"))
    await settle(ctx.container)
    assert await webhook_status(ctx, early) == WebhookStatus.processed.value
    assert (await payout_of(ctx, payee, payout["id"]))["status"] == "in_transit"
    assert await available(ctx, payee) == 0
    clock.advance(timedelta(days=31))
    late = await post_signed(ctx, as_batch_status(batch, "SUCCESS"))
    await settle(ctx.container)  # also delivers the item's RETURNED, which finds it failed
    assert await webhook_status(ctx, late) == WebhookStatus.processed.value
    failed = await payout_of(ctx, payee, payout["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "returned"), failed
    assert await available(ctx, payee) == 2_100
    await post_signed(ctx, as_batch_status(batch, "SUCCESS"))
    await settle(ctx.container)
    assert await available(ctx, payee) == 2_100
    assert await paid_out(ctx, payout["id"]) == []


@pytest.mark.parametrize("lie", ["another_batch", "no_such_batch"])
async def test_a_signed_batch_event_that_lies_moves_nothing(ctx: Ctx, lie: str) -> None:
    """The event names payout A's key with batch B's id (B is someone else's payout), or a
    batch PayPal does not have; a DENIED event for A's own batch changes nothing either."""
    payee, payout = await approved_payout(ctx, 1_700, "payee+unclaimed@example.com")
    other_payee, other = await approved_payout(ctx, 900, "other@example.com")
    events = await queued(ctx)
    own = batch_event(events, payout["id"])
    resource = json.loads(json.dumps(own["resource"]))
    if lie == "another_batch":
        theirs = batch_event(events, other["id"])
        resource["batch_header"]["payout_batch_id"] = theirs["resource"]["batch_header"][
            "payout_batch_id"
        ]
    else:
        resource["batch_header"]["payout_batch_id"] = "NOSUCHBATCH00"
    forged = await post_signed(ctx, as_batch_status({**own, "resource": resource}, "DENIED"))
    denied = await post_signed(ctx, as_batch_status(own, "DENIED"))
    await settle(ctx.container)
    assert await webhook_status(ctx, forged) == WebhookStatus.rejected.value
    (incident,) = await incidents_about(ctx, MISMATCH_INCIDENT, f"webhook:paypal:{forged}")
    assert payout["id"] in incident.error or "NOSUCHBATCH00" in incident.error
    assert await webhook_status(ctx, denied) == WebhookStatus.processed.value
    still = await payout_of(ctx, payee, payout["id"])
    assert (still["status"], still["failure_code"]) == ("in_transit", None), still
    assert await available(ctx, payee) == 0
    assert (await payout_of(ctx, other_payee, other["id"]))["status"] == "paid"
